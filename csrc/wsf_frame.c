/* RFC 6455 frame headers: parsing many frames in one call, and writing. */
#include <string.h>

#include "wsframe_core.h"

static int reserved_opcode(unsigned op)
{
    return (op >= 3 && op <= 7) || op > 0xA;
}

static int header_error(wsf_frame_err *err, int code, uint8_t b0, uint64_t len)
{
    err->code = code;
    err->b0 = b0;
    err->length = len;
    return -1;
}

int wsf_parse_header(const uint8_t *h, size_t avail, const wsf_parser_cfg *cfg, wsf_frame_info *info,
                     size_t *need, wsf_frame_err *err)
{
    if (avail < 2) {
        *need = 2;
        return 0;
    }
    uint8_t b0 = h[0], b1 = h[1];
    unsigned op = b0 & 0x0Fu;
    uint64_t len = b1 & 0x7Fu;
    /* Checks in the same order as wsframe/_codec_py.py. */
    if (b0 & 0x70u & (unsigned)~cfg->allowed_rsv)  /* name only the bits that are not allowed */
        return header_error(err, WSF_E_RSV, (uint8_t)(b0 & ~cfg->allowed_rsv), len);
    if (reserved_opcode(op))
        return header_error(err, WSF_E_OPCODE, b0, len);
    if (op >= 8 && !(b0 & 0x80u))
        return header_error(err, WSF_E_CONTROL_FRAGMENTED, b0, len);
    if (cfg->server && !(b1 & 0x80u))
        return header_error(err, WSF_E_MASK_REQUIRED, b0, len);
    if (!cfg->server && (b1 & 0x80u))
        return header_error(err, WSF_E_MASK_FORBIDDEN, b0, len);
    size_t hlen = 2;
    if (len == 126) {
        if (avail < 4) {
            *need = 4;
            return 0;
        }
        len = ((uint64_t)h[2] << 8) | h[3];
        hlen = 4;
    } else if (len == 127) {
        if (avail < 10) {
            *need = 10;
            return 0;
        }
        len = 0;
        for (int j = 2; j < 10; j++)
            len = (len << 8) | h[j];
        hlen = 10;
        if (len >> 63)
            return header_error(err, WSF_E_LENGTH_MSB, b0, len);
    }
    if (op >= 8 && len > 125)
        return header_error(err, WSF_E_CONTROL_TOO_LONG, b0, len);
    /* The size limit is for data frames: control frames are capped at 125
     * above, and a small limit must not refuse a legal ping or close. */
    if (op < 8 && cfg->has_limit && len > cfg->max_frame_size)
        return header_error(err, WSF_E_TOO_BIG, b0, len);
    int masked = (b1 & 0x80u) != 0;
    if (masked) {
        hlen += 4;
        if (avail < hlen) {
            *need = hlen;
            return 0;
        }
        memcpy(info->key, h + hlen - 4, 4);
    } else {
        memset(info->key, 0, 4);
    }
    info->b0 = b0;
    info->masked = (uint8_t)masked;
    info->payload_off = hlen;
    /* len < 2^63; on a 32-bit size_t it may not fit: then it can never be
     * complete in memory, and need saturates. */
    info->len = len > (uint64_t)SIZE_MAX ? SIZE_MAX : (size_t)len;
    info->full_len = len;
    *need = (len > (uint64_t)(SIZE_MAX - hlen)) ? SIZE_MAX : hlen + (size_t)len;
    return 1;
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
        wsf_frame_info *f = &out[count];
        int r = wsf_parse_header(buf + pos, avail, cfg, f, need, err);
        if (r < 0) {
            err->offset = pos;
            break;
        }
        if (r == 0 || *need > avail)
            break;  /* header or payload incomplete; *need counts from pos */
        f->payload_off += pos;
        pos += *need;
        count++;
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
