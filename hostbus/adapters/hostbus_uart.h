/*
 * A byte-queue UART on hostbus, the shape RTOS UART drivers use: initialise,
 * put bytes, and take received bytes either through a callback (as from an RX
 * interrupt) or one at a time from a queue.
 *
 *   hostbus_uart_t uart;
 *   hostbus_uart_init(&uart, bus, on_rx, ctx);   // or NULL: bytes are queued
 *   hostbus_uart_put(&uart, "AT\r", 3);
 *   hostbus_uart_poll(&uart, 100);               // "the interrupt": delivers what came
 *   int c = hostbus_uart_getc(&uart, 100);       // without a callback
 */
#ifndef HOSTBUS_UART_H
#define HOSTBUS_UART_H

#include <stddef.h>
#include <stdint.h>

#include "../hostbus.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HOSTBUS_UART_QUEUE 4096

typedef void (*hostbus_uart_rx_cb)(void *ctx, const uint8_t *data, size_t len);

typedef struct {
    hostbus_t *bus;
    hostbus_uart_rx_cb on_rx;
    void *ctx;
    size_t head, count;
    uint8_t queue[HOSTBUS_UART_QUEUE];
} hostbus_uart_t;

int hostbus_uart_init(hostbus_uart_t *uart, hostbus_t *bus, hostbus_uart_rx_cb on_rx, void *ctx);
int hostbus_uart_put(hostbus_uart_t *uart, const void *data, size_t len);
int hostbus_uart_putc(hostbus_uart_t *uart, uint8_t byte);
/* Wait up to `timeout_ms` for bytes; hand them to the callback, or queue them
 * (up to HOSTBUS_UART_QUEUE; more stay unread on the link). Returns the count
 * delivered (0 on timeout) or a negative HOSTBUS_E* code. */
long hostbus_uart_poll(hostbus_uart_t *uart, int timeout_ms);
/* The next queued byte (0-255), polling up to `timeout_ms` when the queue is
 * empty, or a negative HOSTBUS_E* code. */
int hostbus_uart_getc(hostbus_uart_t *uart, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
