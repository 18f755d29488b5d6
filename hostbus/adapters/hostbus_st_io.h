/*
 * The bus functions ST's es_wifi.c takes through ES_WIFI_RegisterBusIO, on
 * hostbus. Register them in place of the board's SPI_WIFI_* functions:
 *
 *   hostbus_st_use_link(getenv("ESWIFI_LINK"), getenv("ESWIFI_CONTROL"));
 *   ES_WIFI_RegisterBusIO(&EsWifiObj, hostbus_st_init, hostbus_st_deinit,
 *                         hostbus_st_delay, hostbus_st_send, hostbus_st_receive);
 *
 * Their shapes are those of es_wifi.h's IO_Init_Func, IO_DeInit_Func,
 * IO_Delay_Func, IO_Send_Func and IO_Receive_Func.
 */
#ifndef HOSTBUS_ST_IO_H
#define HOSTBUS_ST_IO_H

#include <stdint.h>

#include "../hostbus.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Values of hostbus_st_init's `mode` (es_wifi.h's ES_WIFI_INIT / ES_WIFI_RESET). */
#define HOSTBUS_ST_INIT 0
#define HOSTBUS_ST_RESET 1

/* Where hostbus_st_init connects: a link string and an optional control
 * channel (see hostbus_open). The strings are copied. */
void hostbus_st_use_link(const char *link, const char *control);
/* The bus the functions below use (NULL before hostbus_st_init). */
hostbus_t *hostbus_st_bus(void);

/* Open the link if needed, reset the module and check its SPI greeting
 * 15 15 0D 0A 3E 20. 0 on success, -1 otherwise (the reason on stderr). */
int8_t hostbus_st_init(uint16_t mode);
int8_t hostbus_st_deinit(void);
void hostbus_st_delay(uint32_t ms);
/* Clock `len` bytes out (padded to even with 0x0A). Returns len or -1. */
int16_t hostbus_st_send(uint8_t *data, uint16_t len, uint32_t timeout_ms);
/* Clock one reply in, as many bytes as DATA-READY allows up to `len`, pads
 * included. Returns the count (0 when nothing came in time) or -1. */
int16_t hostbus_st_receive(uint8_t *data, uint16_t len, uint32_t timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
