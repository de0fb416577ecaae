/* RFC 6455 frame headers: parsing many frames in one call, and writing. */
#include <string.h>

#include "wsframe_core.h"

static int reserved_opcode(unsigned op)
{
    return (op >= 3 && op <= 7) || op > 0xA;
}

size_t wsf_parse_frames(const uint8_t *buf, size_t n, const wsf_parser_cfg *cfg,
                        wsf_frame_info *out, size_t max_out, size_t *consumed,
                        size_t *need, wsf_frame_err *err)
{
    size_t pos = 0, count = 0;
    err->code = WSF_OK;
    *need = 0;
    while (count < max_out) {
        size_t avail = n - pos;
        if (avail < 2) {
            *need = 2;
            break;
        }
        const uint8_t *h = buf + pos;
        uint8_t b0 = h[0], b1 = h[1];
        unsigned op = b0 & 0x0Fu;
        uint64_t len = b1 & 0x7Fu;
        int code = WSF_OK;
        /* Checks in the same order as wsframe/_codec_py.py. */
        if (b0 & 0x70u & (unsigned)~cfg->allowed_rsv)
            code = WSF_E_RSV;
        else if (reserved_opcode(op))
            code = WSF_E_OPCODE;
        else if (op >= 8 && !(b0 & 0x80u))
            code = WSF_E_CONTROL_FRAGMENTED;
        else if (cfg->server && !(b1 & 0x80u))
            code = WSF_E_MASK_REQUIRED;
        else if (!cfg->server && (b1 & 0x80u))
            code = WSF_E_MASK_FORBIDDEN;
        if (code != WSF_OK) {
            err->code = code;
            /* For RSV errors name only the bits that are not allowed. */
            err->b0 = code == WSF_E_RSV ? (uint8_t)(b0 & ~cfg->allowed_rsv) : b0;
            err->length = len;
            err->offset = pos;
            break;
        }
        size_t hlen = 2;
        if (len == 126) {
            if (avail < 4) {
                *need = 4;
                break;
            }
            len = ((uint64_t)h[2] << 8) | h[3];
            hlen = 4;
        } else if (len == 127) {
            if (avail < 10) {
                *need = 10;
                break;
            }
            len = 0;
            for (int j = 2; j < 10; j++)
                len = (len << 8) | h[j];
            hlen = 10;
            if (len >> 63) {
                err->code = WSF_E_LENGTH_MSB;
                err->b0 = b0;
                err->length = len;
                err->offset = pos;
                break;
            }
        }
        if (op >= 8 && len > 125) {
            code = WSF_E_CONTROL_TOO_LONG;
        } else if (cfg->has_limit && len > cfg->max_frame_size) {
            code = WSF_E_TOO_BIG;
        }
        if (code != WSF_OK) {
            err->code = code;
            err->b0 = b0;
            err->length = len;
            err->offset = pos;
            break;
        }
        int masked = (b1 & 0x80u) != 0;
        if (masked)
            hlen += 4;
        /* Compare without overflow: len < 2^63, avail fits in size_t. */
        if (avail < hlen || (uint64_t)(avail - hlen) < len) {
            if (len > (uint64_t)SIZE_MAX - hlen - pos)
                *need = SIZE_MAX;  /* cannot fit in memory here; the limit should catch it */
            else
                *need = hlen + (size_t)len;
            break;
        }
        wsf_frame_info *f = &out[count++];
        f->b0 = b0;
        f->masked = (uint8_t)masked;
        if (masked)
            memcpy(f->key, h + hlen - 4, 4);
        else
            memset(f->key, 0, 4);
        f->payload_off = pos + hlen;
        f->len = (size_t)len;
        pos += hlen + (size_t)len;
    }
    *consumed = pos;
    return count;
}

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
