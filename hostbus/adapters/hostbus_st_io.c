/*
 * ST es_wifi.c bus functions on hostbus (see hostbus_st_io.h). The function
 * pointers es_wifi.c calls carry no context, so the bus is kept here, one per
 * program, as on a board with one module.
 */
#define _POSIX_C_SOURCE 200809L

#include "hostbus_st_io.h"

#include <stdio.h>
#include <string.h>

static const unsigned char GREETING[6] = {0x15, 0x15, '\r', '\n', '>', ' '};

static struct {
    hostbus_t *bus;
    char link[256];
    char control[256];
} st;

void hostbus_st_use_link(const char *link, const char *control)
{
    snprintf(st.link, sizeof st.link, "%s", link ? link : "");
    snprintf(st.control, sizeof st.control, "%s", control ? control : "");
}

hostbus_t *hostbus_st_bus(void)
{
    return st.bus;
}

static int8_t read_greeting(void)
{
    unsigned char got[sizeof GREETING];
    long n = hostbus_read(st.bus, got, sizeof got, 5000);
    long total = n;
    while (n > 0 && total < (long)sizeof got) {
        n = hostbus_read(st.bus, got + total, sizeof got - (size_t)total, 5000);
        if (n > 0)
            total += n;
    }
    if (total != (long)sizeof got || memcmp(got, GREETING, sizeof got) != 0) {
        fprintf(stderr, "hostbus_st: no SPI greeting after reset (%s)\n",
                n < 0 ? hostbus_last_error(st.bus) : "wrong bytes");
        return -1;
    }
    return 0;
}

int8_t hostbus_st_init(uint16_t mode)
{
    char error[256];
    if (!st.bus) {
        int rc = hostbus_open(&st.bus, st.link, st.control[0] ? st.control : NULL, error,
                              sizeof error);
        if (rc != HOSTBUS_OK) {
            fprintf(stderr, "hostbus_st: %s\n", error);
            return -1;
        }
    }
    (void)mode; /* both INIT and RESET reset the module and read its greeting */
    if (hostbus_reset(st.bus) != HOSTBUS_OK) {
        fprintf(stderr, "hostbus_st: %s\n", hostbus_last_error(st.bus));
        return -1;
    }
    return read_greeting();
}

int8_t hostbus_st_deinit(void)
{
    hostbus_close(st.bus);
    st.bus = NULL;
    return 0;
}

void hostbus_st_delay(uint32_t ms)
{
    hostbus_delay_ms(ms);
}

int16_t hostbus_st_send(uint8_t *data, uint16_t len, uint32_t timeout_ms)
{
    (void)timeout_ms;
    if (!st.bus || hostbus_spi_write(st.bus, data, len) != HOSTBUS_OK)
        return -1;
    return (int16_t)len;
}

int16_t hostbus_st_receive(uint8_t *data, uint16_t len, uint32_t timeout_ms)
{
    long n;
    if (!st.bus)
        return -1;
    n = hostbus_spi_read(st.bus, data, len, (int)timeout_ms);
    if (n == HOSTBUS_ETIMEOUT)
        return 0;
    return n < 0 ? -1 : (int16_t)n;
}
