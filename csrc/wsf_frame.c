/* RFC 6455 frame headers: writing. (Parsing, with every framing rule, is
 * wsframe/_parser.py, compiled by Cython: one source for C and Python.) */
#include <string.h>

#include "wsframe_core.h"

size_t wsf_header_len(uint64_t len, int masked)
{
    size_t h = len < 126 ? 2 : len < 65536 ? 4 : 10;
    return masked ? h + 4 : h;
}

size_t wsf_write_header(uint8_t *out, uint8_t b0, uint64_t len, const uint8_t *key)
{
    uint8_t mbit = key ? 0x80 : 0;
    size_t h;
    out[0] = b0;
    if (len < 126) {
        out[1] = (uint8_t)(mbit | len);
        h = 2;
    } else if (len < 65536) {
        out[1] = (uint8_t)(mbit | 126);
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        h = 4;
    } else {
        out[1] = (uint8_t)(mbit | 127);
        for (int j = 0; j < 8; j++)
            out[2 + j] = (uint8_t)(len >> (56 - 8 * j));
        h = 10;
    }
    if (key) {
        memcpy(out + h, key, 4);
        h += 4;
    }
    return h;
}
