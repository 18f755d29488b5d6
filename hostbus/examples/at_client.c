/*
 * A small AT client on hostbus: what a driver's first host build does.
 *
 *   at_client --link tcp:127.0.0.1:7000 [--control 127.0.0.1:7001]
 *             --build spi|uart --echo-port N --server-port N|0 [--seed N]
 *
 * 1. resets the module through its RESET pin (with --control) and checks the
 *    boot output; without --control it synchronises with an empty command;
 * 2. joins eswifi-lab;
 * 3. opens a TCP client to the echo server on 127.0.0.1:--echo-port, sends
 *    binary data that holds "\r\nOK\r\n> " and 0x15 bytes, and reads it back;
 * 4. runs a multi-accept server on --server-port (0: a free port of the
 *    dynamic range, chosen with --seed) and serves two clients in turn: each
 *    sends one line, and gets "echo: <line>" back;
 * 5. resets the module through the pin again and checks it answers.
 *
 * Progress lines go to stdout; a failure prints "FAIL: ..." and exits 1.
 * The SPI build goes through the ST es_wifi.c bus adapter, the UART build
 * through the byte-queue UART adapter.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../adapters/hostbus_st_io.h"
#include "../adapters/hostbus_uart.h"
#include "../hostbus.h"

#define REPLY_MAX 4096
#define PAYLOAD_LEN 600
#define TIMEOUT_MS 10000

static const char OK[] = "\r\nOK\r\n> ";

static struct {
    int spi;
    int have_control;
    hostbus_t *bus;
    hostbus_uart_t uart;
    int accepted;
} app;

static void die(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fputs("FAIL: ", stdout);
    vprintf(fmt, args);
    va_end(args);
    fputc('\n', stdout);
    exit(1);
}

static void say(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);
    fputc('\n', stdout);
    fflush(stdout);
}

static const unsigned char *find(const unsigned char *hay, size_t hay_len, const char *needle)
{
    size_t len = strlen(needle), i;
    for (i = 0; i + len <= hay_len; i++)
        if (memcmp(hay + i, needle, len) == 0)
            return hay + i;
    return NULL;
}

/* UART build: one reply from the byte queue, ended by a prompt and a pause. */
static long uart_reply(unsigned char *reply, size_t max)
{
    size_t len = 0;
    int timeout = TIMEOUT_MS;
    for (;;) {
        int c = hostbus_uart_getc(&app.uart, timeout);
        if (c == HOSTBUS_ETIMEOUT && len > 0)
            return (long)len;
        if (c < 0)
            return c;
        if (len == max)
            return HOSTBUS_EOVERFLOW;
        reply[len++] = (unsigned char)c;
        timeout = len >= 4 && memcmp(reply + len - 4, "\r\n> ", 4) == 0 ? 10 : 200;
    }
}

/* Send one command (bytes may follow it, as after S3=) and read its reply. */
static size_t exchange(const void *cmd, size_t len, unsigned char *reply, size_t max)
{
    long n;
    if (app.spi) {
        if (hostbus_st_send((uint8_t *)cmd, (uint16_t)len, TIMEOUT_MS) != (int16_t)len)
            die("send failed: %s", hostbus_last_error(app.bus));
        n = hostbus_st_receive(reply, (uint16_t)max, TIMEOUT_MS);
    } else {
        if (hostbus_uart_put(&app.uart, cmd, len) != HOSTBUS_OK)
            die("send failed: %s", hostbus_last_error(app.bus));
        n = uart_reply(reply, max);
    }
    if (n <= 0)
        die("no reply to %.*s: %s", (int)strcspn(cmd, "\r"), (const char *)cmd,
            hostbus_last_error(app.bus));
    if (find(reply, (size_t)n, "Accepted"))
        app.accepted++;
    return (size_t)n;
}

/* A command that must answer OK; its reply, NUL-terminated, in `reply`. */
static size_t command(const char *cmd, unsigned char *reply)
{
    char line[256];
    size_t n;
    snprintf(line, sizeof line, "%s\r", cmd);
    n = exchange(line, strlen(line), reply, REPLY_MAX - 1);
    reply[n] = '\0';
    if (!find(reply, n, OK))
        die("%s answered %s", cmd, (const char *)reply);
    return n;
}

/* The data of an R0 reply "\r\n<data>\r\nOK\r\n> " (+ one 0x15 pad on SPI). */
static size_t r0_data(const unsigned char *reply, size_t n, const unsigned char **data)
{
    if (n % 2 == 0 && n >= 5 && reply[n - 1] == 0x15 && memcmp(reply + n - 5, "\r\n> ", 4) == 0)
        n--;
    if (n < 2 + strlen(OK) || memcmp(reply + n - strlen(OK), OK, strlen(OK)) != 0)
        die("malformed R0 reply");
    *data = reply + 2;
    return n - 2 - strlen(OK);
}

static void boot(void)
{
    unsigned char reply[REPLY_MAX];
    if (!app.have_control) {
        /* An empty command line answers with the bare prompt. */
        size_t n = exchange("\r", 1, reply, sizeof reply);
        if (n < 4 || memcmp(reply + n - 4, "\r\n> ", 4) != 0)
            die("no prompt for an empty command");
        say("synchronised");
        return;
    }
    if (app.spi) {
        if (hostbus_st_init(app.bus ? HOSTBUS_ST_RESET : HOSTBUS_ST_INIT) != 0)
            die("no greeting after a reset pulse");
        app.bus = hostbus_st_bus();
    } else {
        if (hostbus_reset(app.bus) != HOSTBUS_OK)
            die("reset: %s", hostbus_last_error(app.bus));
        if (hostbus_read_until(app.bus, reply, sizeof reply, "\r\n> ", 4, TIMEOUT_MS) < 0)
            die("no boot prompt after a reset pulse: %s", hostbus_last_error(app.bus));
    }
    say("boot output ok");
}

static void join(void)
{
    unsigned char reply[REPLY_MAX];
    const unsigned char *at;
    command("C1=eswifi-lab", reply);
    command("C2=eswifi-pass", reply);
    command("C3=3", reply);
    command("C0", reply);
    at = find(reply, strlen((char *)reply), "eswifi-lab,");
    if (!at)
        die("no JOIN line: %s", (const char *)reply);
    say("joined %.*s", (int)strcspn((const char *)at + 11, ","), (const char *)at + 11);
}

static void echo(int port)
{
    unsigned char payload[PAYLOAD_LEN], got[PAYLOAD_LEN], cmd[PAYLOAD_LEN + 16], reply[REPLY_MAX];
    char line[64];
    size_t i, have = 0, head;
    int round;

    for (i = 0; i < PAYLOAD_LEN; i++)
        payload[i] = (unsigned char)(i * 7 + 3);
    memcpy(payload + 10, "\r\nOK\r\n> ", 8);
    memset(payload + 100, 0x15, 6);
    memcpy(payload + PAYLOAD_LEN - 8, "\r\nOK\r\n> ", 8);

    command("P0=0", reply);
    command("P1=0", reply);
    command("P3=127.0.0.1", reply);
    snprintf(line, sizeof line, "P4=%d", port);
    command(line, reply);
    command("P6=1", reply);
    command("R1=1460", reply);
    command("R2=200", reply);

    head = (size_t)snprintf((char *)cmd, sizeof cmd, "S3=%d\r", PAYLOAD_LEN);
    memcpy(cmd + head, payload, PAYLOAD_LEN);
    i = exchange(cmd, head + PAYLOAD_LEN, reply, sizeof reply - 1);
    reply[i] = '\0';
    if (!find(reply, i, OK))
        die("S3 answered %s", (const char *)reply);

    for (round = 0; round < 50 && have < PAYLOAD_LEN; round++) {
        const unsigned char *data;
        size_t n = exchange("R0\r", 3, reply, sizeof reply), len = r0_data(reply, n, &data);
        if (have + len > PAYLOAD_LEN)
            die("read back %zu bytes, sent %d", have + len, PAYLOAD_LEN);
        memcpy(got + have, data, len);
        have += len;
    }
    if (have != PAYLOAD_LEN || memcmp(got, payload, PAYLOAD_LEN) != 0)
        die("echo differs (%zu of %d bytes back)", have, PAYLOAD_LEN);
    command("P6=0", reply);
    say("echo ok %d bytes", PAYLOAD_LEN);
}

/* Wait for the module to report an accepted client (pushed on UART, MR on SPI). */
static void wait_accepted(int count)
{
    unsigned char reply[REPLY_MAX];
    int round;
    for (round = 0; round < 200 && app.accepted < count; round++) {
        if (app.spi) {
            command("MR", reply);
            if (app.accepted < count)
                hostbus_delay_ms(20);
        } else {
            long n = uart_reply(reply, sizeof reply);
            if (n > 0 && find(reply, (size_t)n, "Accepted"))
                app.accepted++;
        }
    }
    if (app.accepted < count)
        die("client %d was never accepted", count);
}

static void serve(int port)
{
    unsigned char reply[REPLY_MAX];
    char line[128];
    int client;

    int attempt;

    command("P0=1", reply);
    command("P1=0", reply);
    command("R1=1460", reply);
    command("R2=200", reply);
    app.accepted = 0;
    /* --server-port 0: a port of the dynamic range, another one if it is taken. */
    for (attempt = 0;; attempt++) {
        int chosen = port ? port : 49152 + rand() % 16384;
        size_t n;
        snprintf(line, sizeof line, "P2=%d", chosen);
        command(line, reply);
        n = exchange("P5=11\r", 6, reply, sizeof reply - 1);
        reply[n] = '\0';
        if (find(reply, n, OK)) {
            port = chosen;
            break;
        }
        if (port || attempt == 9)
            die("P5=11 answered %s", (const char *)reply);
    }
    say("server listening %d", port);
    for (client = 1; client <= 2; client++) {
        char text[256];
        size_t have = 0;
        int round;
        wait_accepted(client);
        for (round = 0; round < 100 && !memchr(text, '\n', have); round++) {
            const unsigned char *data;
            const unsigned char *end;
            size_t n = exchange("R0\r", 3, reply, sizeof reply - 1);
            reply[n] = '\0';
            end = find(reply, n, OK);
            if (!end || n < 2)
                die("malformed R0 reply");
            data = reply + 2;
            if (have + (size_t)(end - data) >= sizeof text)
                die("client %d sent too much", client);
            memcpy(text + have, data, (size_t)(end - data));
            have += (size_t)(end - data);
        }
        if (!memchr(text, '\n', have))
            die("client %d sent no line", client);
        {
            char out[300];
            int len = snprintf(out, sizeof out, "S3=%zu\recho: %.*s", have + 6, (int)have, text);
            size_t n = exchange(out, (size_t)len, reply, sizeof reply - 1);
            reply[n] = '\0';
            if (!find(reply, n, OK))
                die("S3 to client %d answered %s", client, (const char *)reply);
        }
        command("P5=10", reply);
        say("served client %d", client);
    }
    command("P5=0", reply);
}

int main(int argc, char **argv)
{
    const char *link = NULL, *control = NULL, *build = "spi";
    int echo_port = 0, server_port = 0, i;
    unsigned char reply[REPLY_MAX];

    srand((unsigned)getpid());
    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--link") == 0)
            link = argv[i + 1];
        else if (strcmp(argv[i], "--control") == 0)
            control = argv[i + 1];
        else if (strcmp(argv[i], "--build") == 0)
            build = argv[i + 1];
        else if (strcmp(argv[i], "--echo-port") == 0)
            echo_port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--server-port") == 0)
            server_port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seed") == 0)
            srand((unsigned)atoi(argv[i + 1]));
        else
            break;
    }
    if (!link || i != argc || echo_port <= 0 || server_port < 0 ||
        (strcmp(build, "spi") != 0 && strcmp(build, "uart") != 0)) {
        fprintf(stderr, "usage: %s --link LINK [--control HOST:PORT] --build spi|uart "
                        "--echo-port N --server-port N|0 [--seed N]\n",
                argv[0]);
        return 2;
    }
    app.spi = strcmp(build, "spi") == 0;
    app.have_control = control != NULL;
    if (app.spi) {
        /* The ST adapter opens the bus itself, and resets through the pin. */
        if (!app.have_control)
            die("the SPI build needs --control: its adapter resets the module through the pin");
        hostbus_st_use_link(link, control);
    } else {
        char error[256];
        if (hostbus_open(&app.bus, link, control, error, sizeof error) != HOSTBUS_OK)
            die("%s", error);
        hostbus_uart_init(&app.uart, app.bus, NULL, NULL);
    }
    boot();
    join();
    echo(echo_port);
    serve(server_port);
    if (app.have_control) {
        boot();
        command("C?", reply);
        say("answers after reset");
    }
    say("done");
    if (app.spi)
        hostbus_st_deinit();
    else
        hostbus_close(app.bus);
    return 0;
}
