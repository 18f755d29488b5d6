/*
 * hostbus: link, reply framing, pins and byte trace for host builds of
 * eS-WiFi drivers. See hostbus.h for the interface.
 */
#define _POSIX_C_SOURCE 200809L

#include "hostbus.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define RX_CAPACITY 65536
#define LINE_CAPACITY 1024
#define WRITE_TIMEOUT_MS 5000
#define CONTROL_TIMEOUT_MS 5000

static const unsigned char PROMPT[] = {'\r', '\n', '>', ' '};

struct hostbus {
    int fd;
    int is_socket;
    int control_fd;
    int settle_ms;
    int idle_ms;
    FILE *trace;
    int trace_owned;
    double trace_start;
    size_t rx_len;
    unsigned char rx[RX_CAPACITY];
    size_t ctl_len;
    char ctl[LINE_CAPACITY];
    char error[256];
};

/* ------------------------------------------------------------------ helpers */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(long long deadline)
{
    long long left = deadline - now_ms();
    if (left < 0)
        return 0;
    return left > 1000000 ? 1000000 : (int)left;
}

static int fail(hostbus_t *bus, int code, const char *fmt, ...)
{
    if (bus) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(bus->error, sizeof bus->error, fmt, args);
        va_end(args);
    }
    return code;
}

const char *hostbus_strerror(int code)
{
    switch (code) {
    case HOSTBUS_OK: return "ok";
    case HOSTBUS_EARG: return "bad argument";
    case HOSTBUS_ENOLINK: return "cannot open the link";
    case HOSTBUS_ETIMEOUT: return "timed out";
    case HOSTBUS_ECLOSED: return "the emulator closed the link";
    case HOSTBUS_EIO: return "input/output error";
    case HOSTBUS_EOVERFLOW: return "reply larger than the buffer";
    case HOSTBUS_ECONTROL: return "control channel error";
    default: return "unknown error";
    }
}

const char *hostbus_last_error(const hostbus_t *bus)
{
    return bus ? bus->error : "no bus";
}

void hostbus_delay_ms(uint32_t ms)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void hostbus_set_settle_ms(hostbus_t *bus, int settle_ms, int idle_ms)
{
    if (!bus)
        return;
    if (settle_ms >= 0)
        bus->settle_ms = settle_ms;
    if (idle_ms >= 0)
        bus->idle_ms = idle_ms;
}

/* ------------------------------------------------------------------ trace */

static void trace_open(hostbus_t *bus)
{
    const char *target = getenv("HOSTBUS_TRACE");
    if (!target || !*target)
        return;
    if (strcmp(target, "stderr") == 0 || strcmp(target, "-") == 0) {
        bus->trace = stderr;
    } else {
        bus->trace = fopen(target, "w");
        bus->trace_owned = bus->trace != NULL;
        if (!bus->trace)
            fprintf(stderr, "hostbus: cannot write the trace to %s: %s\n", target,
                    strerror(errno));
    }
    bus->trace_start = now_seconds();
}

static void trace(hostbus_t *bus, char direction, const unsigned char *data, size_t len)
{
    size_t i;
    if (!bus->trace || len == 0)
        return;
    fprintf(bus->trace, "%.6f %c ", now_seconds() - bus->trace_start, direction);
    for (i = 0; i < len; i++) {
        unsigned char byte = data[i];
        if (byte == '\r')
            fputs("\\r", bus->trace);
        else if (byte == '\n')
            fputs("\\n", bus->trace);
        else if (byte == '\\')
            fputs("\\\\", bus->trace);
        else if (byte >= 0x20 && byte < 0x7f)
            fputc(byte, bus->trace);
        else
            fprintf(bus->trace, "\\x%02x", byte);
    }
    fputc('\n', bus->trace);
    fflush(bus->trace);
}

/* ------------------------------------------------------------------ opening */

static int connect_tcp(hostbus_t *bus, const char *address, int *fd_out)
{
    char host[256];
    const char *colon = strrchr(address, ':');
    struct addrinfo hints, *found = NULL, *ai;
    int rc, fd = -1, one = 1;
    size_t host_len;

    if (!colon || colon == address || !colon[1])
        return fail(bus, HOSTBUS_EARG, "expected HOST:PORT, got '%s'", address);
    host_len = (size_t)(colon - address);
    if (host_len >= sizeof host)
        return fail(bus, HOSTBUS_EARG, "host name too long in '%s'", address);
    memcpy(host, address, host_len);
    host[host_len] = '\0';
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, colon + 1, &hints, &found);
    if (rc != 0)
        return fail(bus, HOSTBUS_ENOLINK, "cannot resolve '%s': %s", address, gai_strerror(rc));
    for (ai = found; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    rc = errno;
    freeaddrinfo(found);
    if (fd < 0)
        return fail(bus, HOSTBUS_ENOLINK,
                    "nothing listens on %s (%s): is `eswifi emulate` running there?", address,
                    strerror(rc));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *fd_out = fd;
    return HOSTBUS_OK;
}

static int open_tty(hostbus_t *bus, const char *path)
{
    struct termios tio;
    int fd = open(path, O_RDWR | O_NOCTTY);
    if (fd < 0)
        return fail(bus, HOSTBUS_ENOLINK, "cannot open %s: %s", path, strerror(errno));
    if (tcgetattr(fd, &tio) == 0) {
        /* Raw mode: no echo, no line editing, no translation of CR/LF. */
        tio.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
        tio.c_oflag &= ~(tcflag_t)OPOST;
        tio.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
        tio.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
        tio.c_cflag |= CS8;
        tio.c_cc[VMIN] = 1;
        tio.c_cc[VTIME] = 0;
        tcsetattr(fd, TCSANOW, &tio);
        tcflush(fd, TCIOFLUSH);
    }
    bus->fd = fd;
    return HOSTBUS_OK;
}

int hostbus_open(hostbus_t **out, const char *link, const char *control, char *errbuf,
                 size_t errbuf_size)
{
    hostbus_t *bus;
    int rc;

    if (!out || !link)
        return HOSTBUS_EARG;
    *out = NULL;
    bus = calloc(1, sizeof *bus);
    if (!bus)
        return HOSTBUS_EIO;
    bus->fd = -1;
    bus->control_fd = -1;
    bus->settle_ms = 10;
    bus->idle_ms = 200;
    if (strncmp(link, "tcp:", 4) == 0) {
        rc = connect_tcp(bus, link + 4, &bus->fd);
        bus->is_socket = 1;
    } else if (strncmp(link, "socket://", 9) == 0) {
        rc = connect_tcp(bus, link + 9, &bus->fd);
        bus->is_socket = 1;
    } else if (link[0] == '/') {
        rc = open_tty(bus, link);
    } else {
        rc = fail(bus, HOSTBUS_EARG,
                  "link '%s' is neither tcp:HOST:PORT nor a device path such as /dev/pts/5", link);
    }
    if (rc == HOSTBUS_OK && control && *control)
        rc = connect_tcp(bus, strncmp(control, "tcp:", 4) == 0 ? control + 4 : control,
                         &bus->control_fd);
    if (rc != HOSTBUS_OK) {
        if (errbuf && errbuf_size)
            snprintf(errbuf, errbuf_size, "%s", bus->error);
        hostbus_close(bus);
        return rc;
    }
    trace_open(bus);
    *out = bus;
    return HOSTBUS_OK;
}

void hostbus_close(hostbus_t *bus)
{
    if (!bus)
        return;
    if (bus->fd >= 0)
        close(bus->fd);
    if (bus->control_fd >= 0)
        close(bus->control_fd);
    if (bus->trace_owned)
        fclose(bus->trace);
    free(bus);
}

/* ------------------------------------------------------------------ raw bytes */

/* Wait for `events` on `fd`: 1 ready, 0 timed out, negative on error. */
static int wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd pfd;
    int rc;
    pfd.fd = fd;
    pfd.events = events;
    pfd.revents = 0;
    do {
        rc = poll(&pfd, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0)
        return -1;
    return rc > 0;
}

int hostbus_write(hostbus_t *bus, const void *data, size_t len)
{
    const unsigned char *p = data;
    long long deadline = now_ms() + WRITE_TIMEOUT_MS;
    size_t done = 0;

    if (!bus || (!data && len))
        return HOSTBUS_EARG;
    while (done < len) {
        ssize_t n;
        int ready = wait_fd(bus->fd, POLLOUT, remaining_ms(deadline));
        if (ready == 0)
            return fail(bus, HOSTBUS_ETIMEOUT, "the link took no bytes for %d ms",
                        WRITE_TIMEOUT_MS);
        if (bus->is_socket)
            n = send(bus->fd, p + done, len - done, MSG_NOSIGNAL);
        else
            n = write(bus->fd, p + done, len - done);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            if (errno == EPIPE || errno == ECONNRESET || errno == EIO)
                return fail(bus, HOSTBUS_ECLOSED, "the emulator closed the link (%s)",
                            strerror(errno));
            return fail(bus, HOSTBUS_EIO, "write failed: %s", strerror(errno));
        }
        trace(bus, '>', p + done, (size_t)n);
        done += (size_t)n;
    }
    return HOSTBUS_OK;
}

/* Read what the link has into the buffer, waiting until `deadline`.
 * Returns the count read, 0 on timeout, or a negative code. */
static long fill(hostbus_t *bus, long long deadline)
{
    ssize_t n;
    int ready;
    if (bus->rx_len >= RX_CAPACITY)
        return fail(bus, HOSTBUS_EOVERFLOW, "more than %d unread bytes", RX_CAPACITY);
    ready = wait_fd(bus->fd, POLLIN, remaining_ms(deadline));
    if (ready < 0)
        return fail(bus, HOSTBUS_EIO, "poll failed: %s", strerror(errno));
    if (ready == 0)
        return 0;
    do {
        n = read(bus->fd, bus->rx + bus->rx_len, RX_CAPACITY - bus->rx_len);
    } while (n < 0 && errno == EINTR);
    if (n == 0 || (n < 0 && (errno == EIO || errno == ECONNRESET)))
        return fail(bus, HOSTBUS_ECLOSED, "the emulator closed the link");
    if (n < 0)
        return fail(bus, HOSTBUS_EIO, "read failed: %s", strerror(errno));
    trace(bus, '<', bus->rx + bus->rx_len, (size_t)n);
    bus->rx_len += (size_t)n;
    return n;
}

/* Hand the first `count` buffered bytes to the caller. */
static long take(hostbus_t *bus, void *buf, size_t count)
{
    memcpy(buf, bus->rx, count);
    memmove(bus->rx, bus->rx + count, bus->rx_len - count);
    bus->rx_len -= count;
    return (long)count;
}

long hostbus_read(hostbus_t *bus, void *buf, size_t max, int timeout_ms)
{
    if (!bus || !buf || max == 0)
        return HOSTBUS_EARG;
    if (bus->rx_len == 0) {
        long n = fill(bus, now_ms() + timeout_ms);
        if (n < 0)
            return n;
        if (n == 0)
            return fail(bus, HOSTBUS_ETIMEOUT, "no byte within %d ms", timeout_ms);
    }
    return take(bus, buf, bus->rx_len < max ? bus->rx_len : max);
}

static const unsigned char *find(const unsigned char *hay, size_t hay_len,
                                 const unsigned char *needle, size_t needle_len)
{
    size_t i;
    if (needle_len == 0 || hay_len < needle_len)
        return NULL;
    for (i = 0; i + needle_len <= hay_len; i++) {
        const unsigned char *at = memchr(hay + i, needle[0], hay_len - needle_len + 1 - i);
        if (!at)
            return NULL;
        if (memcmp(at, needle, needle_len) == 0)
            return at;
        i = (size_t)(at - hay);
    }
    return NULL;
}

long hostbus_read_until(hostbus_t *bus, void *buf, size_t max, const void *pattern,
                        size_t pattern_len, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    if (!bus || !buf || !pattern || pattern_len == 0)
        return HOSTBUS_EARG;
    for (;;) {
        const unsigned char *at = find(bus->rx, bus->rx_len, pattern, pattern_len);
        long n;
        if (at) {
            size_t count = (size_t)(at - bus->rx) + pattern_len;
            if (count > max)
                return fail(bus, HOSTBUS_EOVERFLOW, "%zu bytes before the pattern, buffer %zu",
                            count, max);
            return take(bus, buf, count);
        }
        if (bus->rx_len >= max)
            return fail(bus, HOSTBUS_EOVERFLOW, "buffer of %zu bytes full before the pattern",
                        max);
        n = fill(bus, deadline);
        if (n < 0)
            return n;
        if (n == 0)
            return fail(bus, HOSTBUS_ETIMEOUT, "pattern not seen within %d ms (%zu bytes read)",
                        timeout_ms, bus->rx_len);
    }
}

/* Does the buffer, less trailing 0x15 pads, end with the prompt? */
static int ends_with_prompt(const hostbus_t *bus)
{
    size_t len = bus->rx_len;
    while (len > 0 && bus->rx[len - 1] == 0x15)
        len--;
    return len >= sizeof PROMPT && memcmp(bus->rx + len - sizeof PROMPT, PROMPT, sizeof PROMPT) == 0;
}

long hostbus_read_reply(hostbus_t *bus, void *buf, size_t max, int timeout_ms)
{
    long n;
    if (!bus || !buf || max == 0)
        return HOSTBUS_EARG;
    if (bus->rx_len == 0) {
        n = fill(bus, now_ms() + timeout_ms);
        if (n < 0)
            return n;
        if (n == 0)
            return fail(bus, HOSTBUS_ETIMEOUT, "no reply within %d ms", timeout_ms);
    }
    for (;;) {
        int pause = ends_with_prompt(bus) ? bus->settle_ms : bus->idle_ms;
        if (bus->rx_len >= max)
            return take(bus, buf, max);
        n = fill(bus, now_ms() + pause);
        if (n < 0 && n != HOSTBUS_ECLOSED)
            return n;
        if (n <= 0)
            return take(bus, buf, bus->rx_len < max ? bus->rx_len : max);
    }
}

void hostbus_discard_input(hostbus_t *bus)
{
    if (!bus)
        return;
    bus->rx_len = 0;
    while (fill(bus, now_ms()) > 0)
        bus->rx_len = 0;
    bus->rx_len = 0;
}

/* ------------------------------------------------------------------ control and pins */

int hostbus_control(hostbus_t *bus, const char *line, char *answer, size_t answer_size)
{
    long long deadline = now_ms() + CONTROL_TIMEOUT_MS;
    size_t len;
    char *newline;

    if (!bus || !line)
        return HOSTBUS_EARG;
    if (bus->control_fd < 0)
        return fail(bus, HOSTBUS_ECONTROL,
                    "'%s' needs the control channel: open the bus with the address that "
                    "`eswifi emulate --control HOST:PORT` prints",
                    line);
    len = strlen(line);
    if (send(bus->control_fd, line, len, MSG_NOSIGNAL) != (ssize_t)len ||
        send(bus->control_fd, "\n", 1, MSG_NOSIGNAL) != 1)
        return fail(bus, HOSTBUS_ECLOSED, "the control channel is gone (%s)", strerror(errno));
    for (;;) {
        ssize_t n;
        int ready;
        newline = memchr(bus->ctl, '\n', bus->ctl_len);
        if (newline)
            break;
        if (bus->ctl_len >= sizeof bus->ctl - 1)
            return fail(bus, HOSTBUS_ECONTROL, "control answer longer than %d bytes",
                        LINE_CAPACITY);
        ready = wait_fd(bus->control_fd, POLLIN, remaining_ms(deadline));
        if (ready <= 0)
            return fail(bus, HOSTBUS_ETIMEOUT, "no answer to '%s' on the control channel", line);
        n = recv(bus->control_fd, bus->ctl + bus->ctl_len, sizeof bus->ctl - 1 - bus->ctl_len, 0);
        if (n <= 0)
            return fail(bus, HOSTBUS_ECLOSED, "the control channel closed");
        bus->ctl_len += (size_t)n;
    }
    *newline = '\0';
    if (newline > bus->ctl && newline[-1] == '\r')
        newline[-1] = '\0';
    if (answer && answer_size)
        snprintf(answer, answer_size, "%s", bus->ctl);
    {
        int is_error = strncmp(bus->ctl, "error", 5) == 0;
        if (is_error)
            fail(bus, HOSTBUS_ECONTROL, "control channel: %s", bus->ctl);
        len = (size_t)(newline - bus->ctl) + 1;
        memmove(bus->ctl, bus->ctl + len, bus->ctl_len - len);
        bus->ctl_len -= len;
        return is_error ? HOSTBUS_ECONTROL : HOSTBUS_OK;
    }
}

int hostbus_reset_hold(hostbus_t *bus)
{
    return hostbus_control(bus, "reset hold", NULL, 0);
}

int hostbus_reset_release(hostbus_t *bus)
{
    return hostbus_control(bus, "reset release", NULL, 0);
}

int hostbus_reset(hostbus_t *bus)
{
    /* Held in reset the module sends nothing, so what is unread once the hold
     * is acknowledged is from before the reset: drop it, then release. */
    int rc = hostbus_reset_hold(bus);
    if (rc != HOSTBUS_OK)
        return rc;
    hostbus_discard_input(bus);
    return hostbus_reset_release(bus);
}

int hostbus_wakeup(hostbus_t *bus, int level)
{
    return hostbus_control(bus, level ? "wakeup high" : "wakeup low", NULL, 0);
}

int hostbus_ready_level(hostbus_t *bus)
{
    char answer[LINE_CAPACITY];
    const char *at;
    int rc = hostbus_control(bus, "pins", answer, sizeof answer);
    if (rc != HOSTBUS_OK)
        return rc;
    at = strstr(answer, "ready");
    if (!at)
        return fail(bus, HOSTBUS_ECONTROL, "no ready level in '%s'", answer);
    at += 5;
    while (*at == '=' || *at == ' ' || *at == ':')
        at++;
    if (*at != '0' && *at != '1')
        return fail(bus, HOSTBUS_ECONTROL, "no ready level in '%s'", answer);
    return *at - '0';
}

int hostbus_wait_ready(hostbus_t *bus, int timeout_ms)
{
    long long deadline;
    if (!bus)
        return HOSTBUS_EARG;
    if (bus->control_fd < 0)
        return HOSTBUS_OK;
    deadline = now_ms() + timeout_ms;
    for (;;) {
        int level = hostbus_ready_level(bus);
        if (level < 0 || level == 1)
            return level < 0 ? level : HOSTBUS_OK;
        if (remaining_ms(deadline) == 0)
            return fail(bus, HOSTBUS_ETIMEOUT, "DATA-READY stayed low for %d ms", timeout_ms);
        hostbus_delay_ms(1);
    }
}

/* ------------------------------------------------------------------ SPI build */

int hostbus_spi_write(hostbus_t *bus, const void *cmd, size_t len)
{
    static const unsigned char pad = 0x0A;
    int rc;
    if (!bus || (!cmd && len))
        return HOSTBUS_EARG;
    rc = hostbus_wait_ready(bus, WRITE_TIMEOUT_MS);
    if (rc != HOSTBUS_OK)
        return rc;
    rc = hostbus_write(bus, cmd, len);
    if (rc == HOSTBUS_OK && len % 2)
        rc = hostbus_write(bus, &pad, 1);
    return rc;
}

long hostbus_spi_read(hostbus_t *bus, void *buf, size_t max, int timeout_ms)
{
    return hostbus_read_reply(bus, buf, max, timeout_ms);
}
