/*
 * hostbus: the lowest layer of an eS-WiFi (ISM43362) driver, on a PC, against
 * `eswifi emulate`.
 *
 * A driver written for the module's SPI or UART build calls these functions
 * where it would touch the bus and the pins on a board. The link is the
 * emulator's TCP console ("tcp:127.0.0.1:7000") or a pseudo-terminal
 * ("/dev/pts/N"); the pins (RESET, WAKEUP, DATA-READY) are reached through the
 * emulator's control channel ("127.0.0.1:7001"), which is optional.
 *
 * Every call returns promptly: a negative HOSTBUS_E* code on failure, with a
 * readable message in hostbus_last_error(). No call waits longer than the
 * timeout it is given.
 *
 * Byte trace: set HOSTBUS_TRACE to a file path, or to "stderr", to log every
 * byte both ways as `seconds direction bytes` lines (">" host to module,
 * "<" module to host), the same form as `eswifi emulate --trace`.
 */
#ifndef HOSTBUS_H
#define HOSTBUS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Results. Successful calls return HOSTBUS_OK or a byte count (>= 0). */
#define HOSTBUS_OK 0
#define HOSTBUS_EARG (-1)      /* a bad argument (NULL, malformed link string...) */
#define HOSTBUS_ENOLINK (-2)   /* the link or control channel could not be opened */
#define HOSTBUS_ETIMEOUT (-3)  /* nothing (or not enough) arrived in time */
#define HOSTBUS_ECLOSED (-4)   /* the emulator closed the link or went away */
#define HOSTBUS_EIO (-5)       /* an operating-system error on the link */
#define HOSTBUS_EOVERFLOW (-6) /* the reply does not fit the caller's buffer */
#define HOSTBUS_ECONTROL (-7)  /* no control channel, or it answered `error: ...` */

typedef struct hostbus hostbus_t;

/* Open the link, e.g. "tcp:127.0.0.1:7000" (also "socket://HOST:PORT") or
 * "/dev/pts/5". `control` is the control channel ("HOST:PORT" or
 * "tcp:HOST:PORT") or NULL when the pins are not needed. On success *out
 * holds the bus; on failure it is NULL and the message is printed by
 * hostbus_strerror() plus, when `errbuf` is given, written there. */
int hostbus_open(hostbus_t **out, const char *link, const char *control, char *errbuf,
                 size_t errbuf_size);
void hostbus_close(hostbus_t *bus);

/* A fixed text for a code, and the detailed message of the last failure. */
const char *hostbus_strerror(int code);
const char *hostbus_last_error(const hostbus_t *bus);

/* How long the module must stay silent after a prompt before a reply counts as
 * finished when no DATA-READY pin is available (default 10 ms), and how long a
 * reply without a prompt may pause before it counts as finished (default
 * 200 ms). */
void hostbus_set_settle_ms(hostbus_t *bus, int settle_ms, int idle_ms);

/* ---------------------------------------------------------------- raw bytes */

/* Write all `len` bytes (waits at most 5 s for the link to take them). */
int hostbus_write(hostbus_t *bus, const void *data, size_t len);
/* Up to `max` bytes: whatever is there, waiting up to `timeout_ms` for the
 * first byte. Returns the count, or HOSTBUS_ETIMEOUT. */
long hostbus_read(hostbus_t *bus, void *buf, size_t max, int timeout_ms);
/* Bytes up to and including the first `pattern`. Bytes after it stay buffered
 * for the next read. HOSTBUS_EOVERFLOW when `max` fills first (the bytes stay
 * buffered too). */
long hostbus_read_until(hostbus_t *bus, void *buf, size_t max, const void *pattern,
                        size_t pattern_len, int timeout_ms);
/* One whole reply: up to its closing prompt "\r\n> " (plus the SPI pad bytes
 * that follow it), or for the few replies without a prompt, up to a pause. */
long hostbus_read_reply(hostbus_t *bus, void *buf, size_t max, int timeout_ms);
/* Throw away whatever the module has sent and nobody read. */
void hostbus_discard_input(hostbus_t *bus);

/* ---------------------------------------------------------------- SPI build */

/* Clock a command out, padded to an even length with 0x0A as real hosts do.
 * With a control channel it first waits (up to 5 s) for DATA-READY. */
int hostbus_spi_write(hostbus_t *bus, const void *cmd, size_t len);
/* One reply as the hardware clocks it: every byte while DATA-READY is high,
 * 0x15 pads included. Waits up to `timeout_ms` for DATA-READY to rise. Stops
 * at `max` bytes as a host with a full buffer would (the rest stays). */
long hostbus_spi_read(hostbus_t *bus, void *buf, size_t max, int timeout_ms);
/* Wait until the module can take a command or has a reply to give. Without a
 * control channel it returns at once with HOSTBUS_OK. */
int hostbus_wait_ready(hostbus_t *bus, int timeout_ms);

/* ---------------------------------------------------------------- pins */

/* Pulse RESET. Unread bytes from before the reset are discarded; the boot
 * output (SPI greeting or UART prompt) is left for the driver to read. */
int hostbus_reset(hostbus_t *bus);
int hostbus_reset_hold(hostbus_t *bus);
int hostbus_reset_release(hostbus_t *bus);
int hostbus_wakeup(hostbus_t *bus, int level);
/* DATA-READY: 1 high, 0 low, or a negative code. */
int hostbus_ready_level(hostbus_t *bus);
/* Send one control-channel line and copy the answer (without its newline)
 * into `answer`. HOSTBUS_ECONTROL when the answer starts with "error". */
int hostbus_control(hostbus_t *bus, const char *line, char *answer, size_t answer_size);

/* ---------------------------------------------------------------- misc */

/* Sleep for `ms` milliseconds. */
void hostbus_delay_ms(uint32_t ms);

#ifdef __cplusplus
}
#endif
#endif
