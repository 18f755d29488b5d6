/* Byte-queue UART on hostbus (see hostbus_uart.h). */
#include "hostbus_uart.h"

#include <string.h>

int hostbus_uart_init(hostbus_uart_t *uart, hostbus_t *bus, hostbus_uart_rx_cb on_rx, void *ctx)
{
    if (!uart || !bus)
        return HOSTBUS_EARG;
    memset(uart, 0, sizeof *uart);
    uart->bus = bus;
    uart->on_rx = on_rx;
    uart->ctx = ctx;
    return HOSTBUS_OK;
}

int hostbus_uart_put(hostbus_uart_t *uart, const void *data, size_t len)
{
    if (!uart)
        return HOSTBUS_EARG;
    return hostbus_write(uart->bus, data, len);
}

int hostbus_uart_putc(hostbus_uart_t *uart, uint8_t byte)
{
    return hostbus_uart_put(uart, &byte, 1);
}

long hostbus_uart_poll(hostbus_uart_t *uart, int timeout_ms)
{
    uint8_t chunk[512];
    size_t room, i;
    long n;

    if (!uart)
        return HOSTBUS_EARG;
    room = uart->on_rx ? sizeof chunk : HOSTBUS_UART_QUEUE - uart->count;
    if (room == 0)
        return 0;
    n = hostbus_read(uart->bus, chunk, room < sizeof chunk ? room : sizeof chunk, timeout_ms);
    if (n == HOSTBUS_ETIMEOUT)
        return 0;
    if (n < 0)
        return n;
    if (uart->on_rx) {
        uart->on_rx(uart->ctx, chunk, (size_t)n);
        return n;
    }
    for (i = 0; i < (size_t)n; i++) {
        uart->queue[(uart->head + uart->count) % HOSTBUS_UART_QUEUE] = chunk[i];
        uart->count++;
    }
    return n;
}

int hostbus_uart_getc(hostbus_uart_t *uart, int timeout_ms)
{
    uint8_t byte;
    if (!uart || uart->on_rx)
        return HOSTBUS_EARG;
    if (uart->count == 0) {
        long n = hostbus_uart_poll(uart, timeout_ms);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return HOSTBUS_ETIMEOUT;
    }
    byte = uart->queue[uart->head];
    uart->head = (uart->head + 1) % HOSTBUS_UART_QUEUE;
    uart->count--;
    return byte;
}
