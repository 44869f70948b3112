/*
 * _akacore.c - the C auth core of ims_core (module ims_core.auth._akacore).
 *
 * The pure-Python twin ims_core/auth/akacore_py.py is the executable spec: same
 * functions, same parameter names (callable by keyword), same results, same
 * exceptions. Only the speed differs.
 *
 *   Milenage f1, f1*, f2..f5, f5*, OPc ...... 3GPP TS 35.206 §4.1 (test data TS 35.208)
 *   AKA vectors, AUTN check, AUTS ........... 3GPP TS 33.102 §6.3.2, §6.3.3, §6.3.5
 *   AES-128 ................................. FIPS-197 (AES-NI when the CPU has it)
 *   MD5, HMAC-MD5 ........................... RFC 1321, RFC 2104
 *   HTTP digest ............................. RFC 2617 §3.2.2 (RFC 2069 form when qop is empty)
 *   AKAv1-MD5 / AKAv2-MD5 passwords ......... RFC 3310 §3.2 / RFC 4169 §7
 *
 * No build-time dependency beyond a C compiler and the Python headers: AES, MD5,
 * HMAC and base64 are implemented here.
 *
 * No global state changes after import (tables, the CPU check and the module's AES
 * path are set up once); with_aes(name) returns an immutable AkaCore whose functions
 * use a path of the caller's choosing.
 *
 * Argument conventions (mirroring the twin):
 *   - bytes parameters accept bytes, bytearray or memoryview (and subclasses);
 *     anything else raises ArgumentTypeError (a TypeError *and* a ValueError);
 *   - a wrong length raises ValueError;
 *   - str parameters must be str and are encoded as UTF-8 (lone surrogates raise
 *     UnicodeEncodeError, itself a ValueError).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define AKA_HAVE_AESNI 1
#include <emmintrin.h>
#include <wmmintrin.h>
#else
#define AKA_HAVE_AESNI 0
#endif

/* ------------------------------------------------------------------------- */
/* Small helpers                                                              */
/* ------------------------------------------------------------------------- */

/* Wipe key material from the stack before returning. The empty asm with a
 * memory clobber stops the compiler from treating the memset as a dead store.
 * Wiping in 16-octet chunks keeps gcc from emitting `rep stos` (slow to start;
 * it cost ~14 ns per generate_vector); the sizes are compile-time constants, so
 * this unrolls into a few vector stores. */
static inline void
secure_wipe(void *p, size_t n)
{
    unsigned char *q = (unsigned char *)p;
    for (; n >= 16; n -= 16, q += 16)
        memset(q, 0, 16);
    memset(q, 0, n);
#if defined(__GNUC__) || defined(__clang__)
    __asm__ __volatile__("" : : "r"(p) : "memory");
#endif
}

/* Constant-time equality: the time depends only on n, never on the content. */
static int
ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    unsigned diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned)(a[i] ^ b[i]);
    return diff == 0;
}

static const char HEXDIGITS[] = "0123456789abcdef";

/* ------------------------------------------------------------------------- */
/* AES-128 encryption, portable path (FIPS-197)                               */
/* ------------------------------------------------------------------------- */
/*
 * Word-oriented: a column of the state is one uint32_t with row r in bits 8r..8r+7
 * (so byte i of a block lives in column i/4, row i%4, as FIPS-197 §3.4 lays it out).
 * Only the 256-byte S-box is a table; MixColumns uses branch-free xtime on packed
 * words. The S-box is computed at import from its definition (FIPS-197 §5.1.1:
 * multiplicative inverse in GF(2^8) followed by the affine map), so no table is
 * typed in by hand.
 *
 * Timing note: S-box lookups are indexed by key-dependent data. A 256-byte table
 * spans only four cache lines, which keeps the cache-timing signal small, but this
 * path is not strictly constant-time; the AES-NI path is. The portable path exists
 * for CPUs without AES-NI.
 */
static uint8_t aes_sbox[256];

static uint8_t
gf_mul(uint8_t a, uint8_t b)
{
    uint8_t r = 0;
    while (b) {
        if (b & 1)
            r ^= a;
        a = (uint8_t)((a << 1) ^ ((a & 0x80) ? 0x1b : 0)); /* x^8 = x^4+x^3+x+1 */
        b >>= 1;
    }
    return r;
}

static void
aes_sbox_init(void)
{
    for (int x = 0; x < 256; x++) {
        /* inverse: x^254 in GF(2^8) (0 maps to 0), FIPS-197 §5.1.1 */
        uint8_t inv = 1, base = (uint8_t)x;
        for (int e = 254; e; e >>= 1) {
            if (e & 1)
                inv = gf_mul(inv, base);
            base = gf_mul(base, base);
        }
        if (x == 0)
            inv = 0;
        /* affine map: b ^ rotl(b,1) ^ rotl(b,2) ^ rotl(b,3) ^ rotl(b,4) ^ 0x63 */
        unsigned b = inv, s = b;
        for (int i = 1; i <= 4; i++)
            s ^= ((b << i) | (b >> (8 - i))) & 0xff;
        aes_sbox[x] = (uint8_t)(s ^ 0x63);
    }
}

static inline uint32_t
load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static inline void
store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t
rotr32(uint32_t v, unsigned n)
{
    return (v >> n) | (v << (32 - n));
}

static inline uint32_t
sub_word(uint32_t w)
{
    return (uint32_t)aes_sbox[w & 0xff] | ((uint32_t)aes_sbox[(w >> 8) & 0xff] << 8) |
           ((uint32_t)aes_sbox[(w >> 16) & 0xff] << 16) |
           ((uint32_t)aes_sbox[w >> 24] << 24);
}

/* xtime on four packed bytes at once (multiply each by x in GF(2^8)), branch-free */
static inline uint32_t
xtime32(uint32_t x)
{
    return ((x & 0x7f7f7f7fu) << 1) ^ (((x >> 7) & 0x01010101u) * 0x1bu);
}

/* FIPS-197 §5.2 key expansion: 44 words, 11 round keys. RotWord is rotr8 in this
 * byte order; Rcon goes into the low (row 0) byte. */
static void
aes_portable_expand(uint32_t rk[44], const uint8_t key[16])
{
    static const uint8_t rcon[10] = {0x01, 0x02, 0x04, 0x08, 0x10,
                                     0x20, 0x40, 0x80, 0x1b, 0x36};
    for (int i = 0; i < 4; i++)
        rk[i] = load_le32(key + 4 * i);
    for (int i = 4; i < 44; i++) {
        uint32_t t = rk[i - 1];
        if (i % 4 == 0)
            t = sub_word(rotr32(t, 8)) ^ rcon[i / 4 - 1];
        rk[i] = rk[i - 4] ^ t;
    }
}

/* SubBytes + ShiftRows for output column c (FIPS-197 §5.1.1, §5.1.2): row r of the
 * new column c comes from row r of old column c+r. */
#define SB_SR(s0, s1, s2, s3)                                                     \
    ((uint32_t)aes_sbox[(s0) & 0xff] | ((uint32_t)aes_sbox[((s1) >> 8) & 0xff] << 8) | \
     ((uint32_t)aes_sbox[((s2) >> 16) & 0xff] << 16) |                           \
     ((uint32_t)aes_sbox[(s3) >> 24] << 24))

/* MixColumns on one column (FIPS-197 §5.1.3): b_r = 2a_r ^ 3a_{r+1} ^ a_{r+2} ^ a_{r+3}
 * = xtime(a_r ^ a_{r+1}) ^ a_{r+1} ^ a_{r+2} ^ a_{r+3}; rotr8 brings a_{r+1} to row r. */
static inline uint32_t
mix_column(uint32_t w)
{
    uint32_t r1 = rotr32(w, 8);
    return xtime32(w ^ r1) ^ r1 ^ rotr32(w, 16) ^ rotr32(w, 24);
}

static void
aes_portable_encrypt(const uint32_t rk[44], const uint8_t in[16], uint8_t out[16])
{
    uint32_t s0 = load_le32(in) ^ rk[0], s1 = load_le32(in + 4) ^ rk[1],
             s2 = load_le32(in + 8) ^ rk[2], s3 = load_le32(in + 12) ^ rk[3];
    for (int round = 1; round < 10; round++) {
        uint32_t t0 = SB_SR(s0, s1, s2, s3), t1 = SB_SR(s1, s2, s3, s0),
                 t2 = SB_SR(s2, s3, s0, s1), t3 = SB_SR(s3, s0, s1, s2);
        const uint32_t *k = rk + 4 * round;
        s0 = mix_column(t0) ^ k[0];
        s1 = mix_column(t1) ^ k[1];
        s2 = mix_column(t2) ^ k[2];
        s3 = mix_column(t3) ^ k[3];
    }
    /* final round: no MixColumns (FIPS-197 §5.1) */
    uint32_t t0 = SB_SR(s0, s1, s2, s3), t1 = SB_SR(s1, s2, s3, s0),
             t2 = SB_SR(s2, s3, s0, s1), t3 = SB_SR(s3, s0, s1, s2);
    store_le32(out, t0 ^ rk[40]);
    store_le32(out + 4, t1 ^ rk[41]);
    store_le32(out + 8, t2 ^ rk[42]);
    store_le32(out + 12, t3 ^ rk[43]);
}

/* ------------------------------------------------------------------------- */
/* Milenage (TS 35.206 §4.1)                                                  */
/* ------------------------------------------------------------------------- */
/*
 * TEMP = E_K(RAND ^ OPc)
 * OUT1 = E_K(TEMP ^ rot(IN1 ^ OPc, r1) ^ c1) ^ OPc,  IN1 = SQN||AMF||SQN||AMF
 * OUTi = E_K(rot(TEMP ^ OPc, ri) ^ ci) ^ OPc,         i = 2..5
 * with r1..r5 = 64, 0, 32, 64, 96 bits and c1..c5 = 0, 1, 2, 4, 8 (in the last
 * octet). rot(x, r) rotates towards the most significant bit, i.e. byte i of the
 * result is byte (i + r/8) mod 16 of x.
 *
 * f1 = OUT1[0..7], f1* = OUT1[8..15], f2 = OUT2[8..15], f5 = OUT2[0..5],
 * f3 = OUT3, f4 = OUT4, f5* = OUT5[0..5].
 */
enum { OUT1 = 1u << 0, OUT2 = 1u << 1, OUT3 = 1u << 2, OUT4 = 1u << 3, OUT5 = 1u << 4 };

typedef struct {
    union { /* round keys: 11 x 16 octets (either path) */
        _Alignas(16) uint8_t b[176];
        uint32_t w[44];
    } rk;
    _Alignas(16) uint8_t opc[16];
    _Alignas(16) uint8_t temp[16];
    const struct mil_impl *impl; /* the AES path that made rk: outs must match it */
} mil_ctx;

/* setup: expand K and compute TEMP; outs: the OUTs named in mask (OUT1 needs in1) */
typedef void (*mil_setup_fn)(mil_ctx *, const uint8_t *k, const uint8_t *opc,
                             const uint8_t *rand);
typedef void (*mil_outs_fn)(const mil_ctx *, const uint8_t *in1, unsigned mask,
                            uint8_t out[5][16]);

static const uint8_t MIL_R[5] = {8, 0, 4, 8, 12}; /* r1..r5 in octets */
static const uint8_t MIL_C[5] = {0, 1, 2, 4, 8};  /* last octet of c1..c5 */

static void
mil_setup_portable(mil_ctx *m, const uint8_t *k, const uint8_t *opc, const uint8_t *rand)
{
    uint32_t *rk = m->rk.w;
    uint8_t x[16];
    aes_portable_expand(rk, k);
    memcpy(m->opc, opc, 16);
    for (int i = 0; i < 16; i++)
        x[i] = rand[i] ^ opc[i];
    aes_portable_encrypt(rk, x, m->temp);
}

static void
mil_outs_portable(const mil_ctx *m, const uint8_t *in1, unsigned mask, uint8_t out[5][16])
{
    const uint32_t *rk = m->rk.w;
    for (int n = 0; n < 5; n++) {
        if (!(mask & (1u << n)))
            continue;
        uint8_t x[16], y[16];
        for (int i = 0; i < 16; i++)
            x[i] = (n == 0 ? in1[i] : m->temp[i]) ^ m->opc[i];
        for (int i = 0; i < 16; i++)
            y[i] = x[(i + MIL_R[n]) & 15];
        if (n == 0)
            for (int i = 0; i < 16; i++)
                y[i] ^= m->temp[i];
        y[15] ^= MIL_C[n];
        aes_portable_encrypt(rk, y, out[n]);
        for (int i = 0; i < 16; i++)
            out[n][i] ^= m->opc[i];
    }
}

#if AKA_HAVE_AESNI
/* ------------------------------------------------------------------------- */
/* AES-128 with AES-NI (Intel AES instructions; FIPS-197 rounds in hardware)  */
/* ------------------------------------------------------------------------- */
#define AKA_AESNI __attribute__((target("aes,sse2")))

/* One step of the FIPS-197 §5.2 schedule: AESKEYGENASSIST gives
 * SubWord(RotWord(w3)) ^ Rcon in dword 3; broadcast it, then fold the previous
 * round key with itself shifted by 1, 2, 3 words (w_i = w_{i-4} ^ w_{i-1}). */
#define AESNI_EXPAND(prev, rcon, dst)                                         \
    do {                                                                      \
        __m128i t_ = _mm_shuffle_epi32(_mm_aeskeygenassist_si128(prev, rcon), 0xff); \
        __m128i k_ = prev;                                                    \
        k_ = _mm_xor_si128(k_, _mm_slli_si128(k_, 4));                        \
        k_ = _mm_xor_si128(k_, _mm_slli_si128(k_, 4));                        \
        k_ = _mm_xor_si128(k_, _mm_slli_si128(k_, 4));                        \
        dst = _mm_xor_si128(k_, t_);                                          \
    } while (0)

AKA_AESNI static void
mil_setup_aesni(mil_ctx *m, const uint8_t *k, const uint8_t *opc, const uint8_t *rand)
{
    __m128i rk[11];
    __m128i o = _mm_loadu_si128((const __m128i *)(const void *)opc);
    __m128i b = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)rand), o);
    /* Interleave the key schedule with the TEMP encryption: round key i is used as
     * soon as it exists, so the two dependency chains overlap. */
    rk[0] = _mm_loadu_si128((const __m128i *)(const void *)k);
    b = _mm_xor_si128(b, rk[0]);
    AESNI_EXPAND(rk[0], 0x01, rk[1]);  b = _mm_aesenc_si128(b, rk[1]);
    AESNI_EXPAND(rk[1], 0x02, rk[2]);  b = _mm_aesenc_si128(b, rk[2]);
    AESNI_EXPAND(rk[2], 0x04, rk[3]);  b = _mm_aesenc_si128(b, rk[3]);
    AESNI_EXPAND(rk[3], 0x08, rk[4]);  b = _mm_aesenc_si128(b, rk[4]);
    AESNI_EXPAND(rk[4], 0x10, rk[5]);  b = _mm_aesenc_si128(b, rk[5]);
    AESNI_EXPAND(rk[5], 0x20, rk[6]);  b = _mm_aesenc_si128(b, rk[6]);
    AESNI_EXPAND(rk[6], 0x40, rk[7]);  b = _mm_aesenc_si128(b, rk[7]);
    AESNI_EXPAND(rk[7], 0x80, rk[8]);  b = _mm_aesenc_si128(b, rk[8]);
    AESNI_EXPAND(rk[8], 0x1b, rk[9]);  b = _mm_aesenc_si128(b, rk[9]);
    AESNI_EXPAND(rk[9], 0x36, rk[10]); b = _mm_aesenclast_si128(b, rk[10]);
    for (int i = 0; i < 11; i++)
        _mm_store_si128((__m128i *)(void *)(m->rk.b + 16 * i), rk[i]);
    _mm_store_si128((__m128i *)(void *)m->opc, o);
    _mm_store_si128((__m128i *)(void *)m->temp, b);
}

/* All five OUT blocks are independent once TEMP is known, so they run through the
 * AES pipeline together; five blocks cost little more than one, hence mask is
 * ignored here and every OUT is produced. */
AKA_AESNI static void
mil_outs_aesni(const mil_ctx *m, const uint8_t *in1, unsigned mask, uint8_t out[5][16])
{
    static const uint8_t zero[16];
    (void)mask;
    const __m128i *rk = (const __m128i *)(const void *)m->rk.b;
    __m128i o = _mm_load_si128((const __m128i *)(const void *)m->opc);
    __m128i t = _mm_load_si128((const __m128i *)(const void *)m->temp);
    __m128i i1 = _mm_loadu_si128((const __m128i *)(const void *)(in1 ? in1 : zero));
    __m128i to = _mm_xor_si128(t, o);
    /* rot by 8/4/12 octets = dword shuffles (byte i <- byte i + r) */
    __m128i b1 = _mm_xor_si128(t, _mm_shuffle_epi32(_mm_xor_si128(i1, o), 0x4e));
    __m128i b2 = _mm_xor_si128(to, _mm_set_epi32(0x01000000, 0, 0, 0));
    __m128i b3 = _mm_xor_si128(_mm_shuffle_epi32(to, 0x39), _mm_set_epi32(0x02000000, 0, 0, 0));
    __m128i b4 = _mm_xor_si128(_mm_shuffle_epi32(to, 0x4e), _mm_set_epi32(0x04000000, 0, 0, 0));
    __m128i b5 = _mm_xor_si128(_mm_shuffle_epi32(to, 0x93), _mm_set_epi32(0x08000000, 0, 0, 0));
    __m128i k = _mm_load_si128(rk);
    b1 = _mm_xor_si128(b1, k);
    b2 = _mm_xor_si128(b2, k);
    b3 = _mm_xor_si128(b3, k);
    b4 = _mm_xor_si128(b4, k);
    b5 = _mm_xor_si128(b5, k);
    for (int i = 1; i < 10; i++) {
        k = _mm_load_si128(rk + i);
        b1 = _mm_aesenc_si128(b1, k);
        b2 = _mm_aesenc_si128(b2, k);
        b3 = _mm_aesenc_si128(b3, k);
        b4 = _mm_aesenc_si128(b4, k);
        b5 = _mm_aesenc_si128(b5, k);
    }
    k = _mm_load_si128(rk + 10);
    _mm_storeu_si128((__m128i *)(void *)out[0], _mm_xor_si128(_mm_aesenclast_si128(b1, k), o));
    _mm_storeu_si128((__m128i *)(void *)out[1], _mm_xor_si128(_mm_aesenclast_si128(b2, k), o));
    _mm_storeu_si128((__m128i *)(void *)out[2], _mm_xor_si128(_mm_aesenclast_si128(b3, k), o));
    _mm_storeu_si128((__m128i *)(void *)out[3], _mm_xor_si128(_mm_aesenclast_si128(b4, k), o));
    _mm_storeu_si128((__m128i *)(void *)out[4], _mm_xor_si128(_mm_aesenclast_si128(b5, k), o));
}
#endif /* AKA_HAVE_AESNI */

/* Whether the CPU has AES-NI: a fact about the machine, found once at import. */
static int cpu_has_aesni;

/* One AES path. Both are constant tables; which one a call uses is carried by the
 * object the function is bound to (see AkaCore below), never by a global switch. */
struct mil_impl {
    const char *name; /* what aes_impl() answers */
    mil_setup_fn setup;
    mil_outs_fn outs;
};
static const struct mil_impl MIL_PORTABLE = {"portable", mil_setup_portable, mil_outs_portable};
#if AKA_HAVE_AESNI
static const struct mil_impl MIL_AESNI = {"aesni", mil_setup_aesni, mil_outs_aesni};
#endif

/* The path is fixed in m by setup, so a call never mixes the two paths. */
static inline void
mil_setup(mil_ctx *m, const struct mil_impl *impl, const uint8_t *k, const uint8_t *opc,
          const uint8_t *rand)
{
    m->impl = impl;
    impl->setup(m, k, opc, rand);
}

static inline void
mil_outs(const mil_ctx *m, const uint8_t *in1, unsigned mask, uint8_t out[5][16])
{
    m->impl->outs(m, in1, mask, out);
}

/* The AES path called name ("aesni" or "portable"), or NULL if this build or CPU has
 * no such path. */
static const struct mil_impl *
find_aes(const char *name)
{
    if (strcmp(name, "portable") == 0)
        return &MIL_PORTABLE;
#if AKA_HAVE_AESNI
    if (strcmp(name, "aesni") == 0 && cpu_has_aesni)
        return &MIL_AESNI;
#endif
    return NULL;
}

/*
 * AkaCore: the module's functions bound to one AES path. Immutable (no setter, no
 * __dict__), so instances can be shared between threads. Every function below takes
 * an AkaCore as self; the module's own functions are bound to one made at import
 * (IMS_CORE_AES=portable, else AES-NI when the CPU has it), and with_aes() makes
 * others.
 */
typedef struct {
    PyObject_HEAD
    const struct mil_impl *impl;
} AkaCore;

static PyTypeObject AkaCore_Type;

static inline const struct mil_impl *
impl_of(PyObject *self)
{
    return ((AkaCore *)self)->impl;
}

static PyObject *
akacore_new(const struct mil_impl *impl)
{
    AkaCore *o = PyObject_New(AkaCore, &AkaCore_Type);
    if (o != NULL)
        o->impl = impl;
    return (PyObject *)o;
}

/* ------------------------------------------------------------------------- */
/* MD5 (RFC 1321) and HMAC-MD5 (RFC 2104)                                     */
/* ------------------------------------------------------------------------- */
typedef struct {
    uint32_t a, b, c, d;
    uint64_t len;      /* message length in octets */
    uint8_t buf[64];
    size_t nbuf;
} md5_ctx;

/* RFC 1321 §3.4: T[i] = floor(2^32 * |sin(i + 1)|) */
static const uint32_t MD5_T[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
    0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
    0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
    0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
    0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
    0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
    0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
    0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
    0xeb86d391,
};
/* RFC 1321 §3.4: per-round shift amounts */
static const uint8_t MD5_S[4][4] = {{7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23},
                                    {6, 10, 15, 21}};

static inline uint32_t
rotl32(uint32_t v, unsigned n)
{
    return (v << n) | (v >> (32 - n));
}

/* One 64-octet block (RFC 1321 §3.4), unrolled: the four auxiliary functions
 * F, G, H, I over 16 steps each. Step i uses T[i], shift S[round][i % 4] and
 * message word X[g]: g = i, 5i+1, 3i+5, 7i (mod 16) for rounds 1-4. */
#define MD5_F(x, y, z) ((z) ^ ((x) & ((y) ^ (z)))) /* = (x & y) | (~x & z) */
#define MD5_G(x, y, z) ((y) ^ ((z) & ((x) ^ (y)))) /* = (x & z) | (y & ~z) */
#define MD5_H(x, y, z) ((x) ^ (y) ^ (z))
#define MD5_I(x, y, z) ((y) ^ ((x) | ~(z)))
#define MD5_STEP(f, a, b, c, d, i, g)                                         \
    (a) = (b) + rotl32((a) + f((b), (c), (d)) + MD5_T[i] + x[g], MD5_S[(i) >> 4][(i) & 3])
#define MD5_ROUND(f, i0, g0, gm)                                              \
    MD5_STEP(f, a, b, cc, d, i0 + 0, (g0 + 0 * gm) & 15);                     \
    MD5_STEP(f, d, a, b, cc, i0 + 1, (g0 + 1 * gm) & 15);                     \
    MD5_STEP(f, cc, d, a, b, i0 + 2, (g0 + 2 * gm) & 15);                     \
    MD5_STEP(f, b, cc, d, a, i0 + 3, (g0 + 3 * gm) & 15)

static void
md5_block(md5_ctx *c, const uint8_t *p)
{
    uint32_t x[16];
    for (int i = 0; i < 16; i++)
        x[i] = load_le32(p + 4 * i); /* RFC 1321 §3.4: words are little-endian */
    uint32_t a = c->a, b = c->b, cc = c->c, d = c->d;
    MD5_ROUND(MD5_F, 0, 0, 1);
    MD5_ROUND(MD5_F, 4, 4, 1);
    MD5_ROUND(MD5_F, 8, 8, 1);
    MD5_ROUND(MD5_F, 12, 12, 1);
    MD5_ROUND(MD5_G, 16, 1, 5);
    MD5_ROUND(MD5_G, 20, 5 * 20 + 1, 5);
    MD5_ROUND(MD5_G, 24, 5 * 24 + 1, 5);
    MD5_ROUND(MD5_G, 28, 5 * 28 + 1, 5);
    MD5_ROUND(MD5_H, 32, 3 * 32 + 5, 3);
    MD5_ROUND(MD5_H, 36, 3 * 36 + 5, 3);
    MD5_ROUND(MD5_H, 40, 3 * 40 + 5, 3);
    MD5_ROUND(MD5_H, 44, 3 * 44 + 5, 3);
    MD5_ROUND(MD5_I, 48, 7 * 48, 7);
    MD5_ROUND(MD5_I, 52, 7 * 52, 7);
    MD5_ROUND(MD5_I, 56, 7 * 56, 7);
    MD5_ROUND(MD5_I, 60, 7 * 60, 7);
    c->a += a;
    c->b += b;
    c->c += cc;
    c->d += d;
}

static void
md5_init(md5_ctx *c)
{
    /* RFC 1321 §3.3 */
    c->a = 0x67452301;
    c->b = 0xefcdab89;
    c->c = 0x98badcfe;
    c->d = 0x10325476;
    c->len = 0;
    c->nbuf = 0;
}

static void
md5_update(md5_ctx *c, const void *data, size_t n)
{
    const uint8_t *p = (const uint8_t *)data;
    c->len += n;
    if (c->nbuf) {
        size_t take = 64 - c->nbuf;
        if (take > n)
            take = n;
        memcpy(c->buf + c->nbuf, p, take);
        c->nbuf += take;
        p += take;
        n -= take;
        if (c->nbuf < 64)
            return;
        md5_block(c, c->buf);
        c->nbuf = 0;
    }
    for (; n >= 64; n -= 64, p += 64)
        md5_block(c, p);
    if (n) {
        memcpy(c->buf, p, n);
        c->nbuf = n;
    }
}

static void
md5_final(md5_ctx *c, uint8_t out[16])
{
    /* RFC 1321 §3.1-3.2: append 0x80, zeros up to 56 mod 64, then the bit length
     * as 64 bits little-endian; padded in place in the context buffer */
    uint64_t bits = c->len * 8;
    size_t n = c->nbuf;
    c->buf[n++] = 0x80;
    if (n > 56) {
        memset(c->buf + n, 0, 64 - n);
        md5_block(c, c->buf);
        n = 0;
    }
    memset(c->buf + n, 0, 56 - n);
    for (int i = 0; i < 8; i++)
        c->buf[56 + i] = (uint8_t)(bits >> (8 * i));
    md5_block(c, c->buf);
    store_le32(out, c->a);
    store_le32(out + 4, c->b);
    store_le32(out + 8, c->c);
    store_le32(out + 12, c->d);
}

static void
md5_hex_final(md5_ctx *c, char hex[32])
{
    uint8_t d[16];
    md5_final(c, d);
    for (int i = 0; i < 16; i++) {
        hex[2 * i] = HEXDIGITS[d[i] >> 4];
        hex[2 * i + 1] = HEXDIGITS[d[i] & 15];
    }
}

/* RFC 2104: HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)), B = 64.
 * The only key here is RES||IK||CK (at most 48 octets, RFC 4169 §7), so the
 * "hash keys longer than B first" step of RFC 2104 §2 is never needed. */
static void
hmac_md5(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t msglen,
         uint8_t out[16])
{
    uint8_t k0[64] = {0}, pad[64], inner[16];
    md5_ctx c;
    memcpy(k0, key, keylen < 64 ? keylen : 64); /* callers pass keylen <= 48 */
    for (int i = 0; i < 64; i++)
        pad[i] = k0[i] ^ 0x36;
    md5_init(&c);
    md5_update(&c, pad, 64);
    md5_update(&c, msg, msglen);
    md5_final(&c, inner);
    for (int i = 0; i < 64; i++)
        pad[i] = k0[i] ^ 0x5c;
    md5_init(&c);
    md5_update(&c, pad, 64);
    md5_update(&c, inner, 16);
    md5_final(&c, out);
    secure_wipe(k0, sizeof k0);
    secure_wipe(pad, sizeof pad);
    secure_wipe(&c, sizeof c);
}

/* RFC 4648 §4 base64 with padding; out must hold 4 * ceil(n / 3) octets */
static size_t
base64_encode(const uint8_t *in, size_t n, char *out)
{
    static const char A[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        out[o++] = A[v >> 18];
        out[o++] = A[(v >> 12) & 63];
        out[o++] = A[(v >> 6) & 63];
        out[o++] = A[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = A[v >> 18];
        out[o++] = A[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    }
    else if (n - i == 2) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        out[o++] = A[v >> 18];
        out[o++] = A[(v >> 12) & 63];
        out[o++] = A[(v >> 6) & 63];
        out[o++] = '=';
    }
    return o;
}

/* ------------------------------------------------------------------------- */
/* Argument handling                                                          */
/* ------------------------------------------------------------------------- */
static PyObject *ArgumentTypeError;

static int
is_bytes_like(PyObject *o)
{
    /* exactly the twin's isinstance(value, bytes | bytearray | memoryview) */
    return PyBytes_Check(o) || PyByteArray_Check(o) || PyMemoryView_Check(o);
}

static int
type_error(const char *name, const char *want, PyObject *o)
{
    PyObject *tn = PyType_GetName(Py_TYPE(o));
    if (tn == NULL)
        return -1;
    PyErr_Format(ArgumentTypeError, "%s must be %s, not %U", name, want, tn);
    Py_DECREF(tn);
    return -1;
}

/* A fixed-size bytes parameter, copied into out. Copying (16 octets at most) means
 * no buffer is held past this call, so no error path has anything to release. */
static int
get_fixed(PyObject *o, const char *name, Py_ssize_t size, uint8_t *out)
{
    Py_ssize_t n;
    if (PyBytes_Check(o)) {
        n = PyBytes_GET_SIZE(o);
        if (n == size) {
            memcpy(out, PyBytes_AS_STRING(o), (size_t)size);
            return 0;
        }
    }
    else if (PyByteArray_Check(o)) {
        n = PyByteArray_GET_SIZE(o);
        if (n == size) {
            memcpy(out, PyByteArray_AS_STRING(o), (size_t)size);
            return 0;
        }
    }
    else if (PyMemoryView_Check(o)) {
        /* bytes(memoryview) in the twin: any shape or stride, C order */
        Py_buffer v;
        if (PyObject_GetBuffer(o, &v, PyBUF_FULL_RO) < 0)
            return -1;
        n = v.len;
        int rc = 0;
        if (n == size)
            rc = PyBuffer_ToContiguous(out, &v, size, 'C');
        PyBuffer_Release(&v);
        if (rc < 0)
            return -1;
        if (n == size)
            return 0;
    }
    else {
        return type_error(name, "bytes", o);
    }
    PyErr_Format(PyExc_ValueError, "%s must be %zd bytes, not %zd", name, size, n);
    return -1;
}

/* A variable-length bytes parameter. Holds a buffer export (so a bytearray cannot be
 * resized under us) or a private copy for non-contiguous memoryviews; var_release()
 * is safe on a zeroed, half-filled or already released var_arg. */
typedef struct {
    Py_buffer view;
    int has_view;
    uint8_t *copy;
    const uint8_t *p;
    Py_ssize_t n;
} var_arg;

/* Only the bookkeeping fields: zeroing the whole Py_buffer costs a `rep stos`. */
static inline void
var_init(var_arg *b)
{
    b->has_view = 0;
    b->copy = NULL;
    b->p = NULL;
    b->n = 0;
}

static void
var_release(var_arg *b)
{
    if (b->has_view) {
        PyBuffer_Release(&b->view);
        b->has_view = 0;
    }
    if (b->copy) {
        PyMem_Free(b->copy);
        b->copy = NULL;
    }
    b->p = NULL;
    b->n = 0;
}

/* Acquire an object already known to be bytes-like. */
static int
var_acquire(PyObject *o, var_arg *b)
{
    if (PyBytes_Check(o)) { /* immutable: the pointer stays valid while o lives */
        b->p = (const uint8_t *)PyBytes_AS_STRING(o);
        b->n = PyBytes_GET_SIZE(o);
        return 0;
    }
    if (PyObject_GetBuffer(o, &b->view, PyBUF_FULL_RO) < 0)
        return -1;
    b->has_view = 1;
    b->n = b->view.len;
    if (PyBuffer_IsContiguous(&b->view, 'C')) {
        b->p = (const uint8_t *)b->view.buf;
        return 0;
    }
    b->copy = (uint8_t *)PyMem_Malloc(b->n ? (size_t)b->n : 1);
    if (b->copy == NULL) {
        var_release(b);
        PyErr_NoMemory();
        return -1;
    }
    if (PyBuffer_ToContiguous(b->copy, &b->view, b->n, 'C') < 0) {
        var_release(b);
        return -1;
    }
    PyBuffer_Release(&b->view);
    b->has_view = 0;
    b->p = b->copy;
    return 0;
}

/* A str parameter as UTF-8 (the twin's value.encode("utf-8")). The pointer is owned
 * by the str object (cached UTF-8), so nothing to release. */
static int
get_str(PyObject *o, const char *name, const char **p, Py_ssize_t *n)
{
    if (!PyUnicode_Check(o))
        return type_error(name, "str", o);
    *p = PyUnicode_AsUTF8AndSize(o, n);
    return *p == NULL ? -1 : 0;
}

/*
 * METH_FASTCALL | METH_KEYWORDS parsing with a small keyword matcher; measured
 * faster than PyArg_ParseTupleAndKeywords on the generate_vector hot path. Keyword
 * names are matched by identity against interned strings first (call sites pass
 * interned names), then by value.
 */
#define MAX_PARAMS 11

typedef struct {
    const char *fname;
    int nparams;
    int nrequired;
    const char *names[MAX_PARAMS];
    PyObject *interned[MAX_PARAMS];
} fn_spec;

static int
parse_args(fn_spec *spec, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
           PyObject **out)
{
    int np = spec->nparams;
    if (nargs > np) {
        PyErr_Format(PyExc_TypeError, "%s() takes %d positional arguments but %zd were given",
                     spec->fname, np, nargs);
        return -1;
    }
    for (int i = 0; i < np; i++)
        out[i] = i < nargs ? args[i] : NULL;
    if (kwnames != NULL) {
        Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t j = 0; j < nkw; j++) {
            PyObject *kw = PyTuple_GET_ITEM(kwnames, j);
            int idx = -1;
            for (int i = 0; i < np; i++)
                if (kw == spec->interned[i]) {
                    idx = i;
                    break;
                }
            if (idx < 0)
                for (int i = 0; i < np; i++)
                    if (PyUnicode_Check(kw) &&
                        PyUnicode_CompareWithASCIIString(kw, spec->names[i]) == 0) {
                        idx = i;
                        break;
                    }
            if (idx < 0) {
                PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%S'",
                             spec->fname, kw);
                return -1;
            }
            if (out[idx] != NULL) {
                PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'",
                             spec->fname, spec->names[idx]);
                return -1;
            }
            out[idx] = args[nargs + j];
        }
    }
    for (int i = 0; i < spec->nrequired; i++)
        if (out[i] == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s' (pos %d)",
                         spec->fname, spec->names[i], i + 1);
            return -1;
        }
    return 0;
}

#define PARSE(spec, out)                                      \
    do {                                                      \
        if (parse_args(&(spec), args, nargs, kwnames, out) < 0) \
            return NULL;                                      \
    } while (0)

static fn_spec SPEC_OPC = {"opc", 2, 2, {"k", "op"}, {0}};
static fn_spec SPEC_F1 = {"f1", 5, 5, {"k", "opc", "rand", "sqn", "amf"}, {0}};
static fn_spec SPEC_F1STAR = {"f1star", 5, 5, {"k", "opc", "rand", "sqn", "amf"}, {0}};
static fn_spec SPEC_F2345 = {"f2345", 3, 3, {"k", "opc", "rand"}, {0}};
static fn_spec SPEC_F5STAR = {"f5star", 3, 3, {"k", "opc", "rand"}, {0}};
static fn_spec SPEC_GV = {"generate_vector", 5, 5, {"k", "opc", "rand", "sqn", "amf"}, {0}};
static fn_spec SPEC_CHECK_AUTN = {"check_autn", 4, 4, {"k", "opc", "rand", "autn"}, {0}};
static fn_spec SPEC_MAKE_AUTS = {"make_auts", 4, 4, {"k", "opc", "rand", "sqn_ms"}, {0}};
static fn_spec SPEC_VERIFY_AUTS = {"verify_auts", 4, 4, {"k", "opc", "rand", "auts"}, {0}};
static fn_spec SPEC_AKAV2 = {"akav2_password", 3, 3, {"res", "ik", "ck"}, {0}};
static fn_spec SPEC_HA1 = {"ha1", 3, 3, {"username", "realm", "password"}, {0}};
static fn_spec SPEC_DIGEST = {"digest_response", 11, 10,
                              {"algorithm", "username", "realm", "password", "method", "uri",
                               "nonce", "nc", "cnonce", "qop", "body"},
                              {0}};
static fn_spec SPEC_DIGEST_HA1 = {"digest_response_ha1", 8, 7,
                                  {"ha1", "method", "uri", "nonce", "nc", "cnonce", "qop",
                                   "body"},
                                  {0}};
static fn_spec SPEC_VERIFY_RESPONSE = {"verify_response", 2, 2, {"received", "expected"}, {0}};
static fn_spec SPEC_WITH_AES = {"with_aes", 1, 1, {"name"}, {0}};

static fn_spec *ALL_SPECS[] = {
    &SPEC_OPC, &SPEC_F1, &SPEC_F1STAR, &SPEC_F2345, &SPEC_F5STAR,
    &SPEC_GV, &SPEC_CHECK_AUTN, &SPEC_MAKE_AUTS, &SPEC_VERIFY_AUTS, &SPEC_AKAV2,
    &SPEC_HA1, &SPEC_DIGEST, &SPEC_DIGEST_HA1, &SPEC_VERIFY_RESPONSE, &SPEC_WITH_AES,
};

/* Build bytes; returns NULL with an exception set on failure. */
static inline PyObject *
mkbytes(const uint8_t *p, Py_ssize_t n)
{
    return PyBytes_FromStringAndSize((const char *)p, n);
}

/* A tuple of freshly built bytes; on failure nothing leaks (PyTuple_New fills NULLs). */
static PyObject *
mktuple4(const uint8_t *a, Py_ssize_t na, const uint8_t *b, Py_ssize_t nb, const uint8_t *c,
         Py_ssize_t nc, const uint8_t *d, Py_ssize_t nd)
{
    PyObject *t = PyTuple_New(4), *x;
    if (t == NULL)
        return NULL;
    if ((x = mkbytes(a, na)) == NULL)
        goto fail;
    PyTuple_SET_ITEM(t, 0, x);
    if ((x = mkbytes(b, nb)) == NULL)
        goto fail;
    PyTuple_SET_ITEM(t, 1, x);
    if ((x = mkbytes(c, nc)) == NULL)
        goto fail;
    PyTuple_SET_ITEM(t, 2, x);
    if ((x = mkbytes(d, nd)) == NULL)
        goto fail;
    PyTuple_SET_ITEM(t, 3, x);
    return t;
fail:
    Py_DECREF(t);
    return NULL;
}

/* ------------------------------------------------------------------------- */
/* Milenage / AKA functions                                                   */
/* ------------------------------------------------------------------------- */

/* k, opc, rand: the common prefix of every Milenage function (checked in this order,
 * as the twin does), then key expansion and TEMP. */
static int
setup_kor(PyObject *self, PyObject **a, mil_ctx *m)
{
    uint8_t k[16], opc[16], rand[16];
    if (get_fixed(a[0], "k", 16, k) < 0 || get_fixed(a[1], "opc", 16, opc) < 0 ||
        get_fixed(a[2], "rand", 16, rand) < 0) {
        secure_wipe(k, sizeof k);
        return -1;
    }
    mil_setup(m, impl_of(self), k, opc, rand);
    secure_wipe(k, sizeof k);
    return 0;
}

static void
make_in1(uint8_t in1[16], const uint8_t sqn[6], const uint8_t amf[2])
{
    /* IN1 = SQN || AMF || SQN || AMF (TS 35.206 §4.1) */
    memcpy(in1, sqn, 6);
    memcpy(in1 + 6, amf, 2);
    memcpy(in1 + 8, in1, 8);
}

PyDoc_STRVAR(opc_doc, "opc($self, /, k, op)\n--\n\nOPc = E_K(OP) xor OP (TS 35.206 §4.1).");

static PyObject *
aka_opc(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[2];
    uint8_t k[16], op[16], r[16];
    static const uint8_t zero[16];
    mil_ctx m;
    PARSE(SPEC_OPC, a);
    if (get_fixed(a[0], "k", 16, k) < 0 || get_fixed(a[1], "op", 16, op) < 0) {
        secure_wipe(k, sizeof k);
        return NULL;
    }
    /* setup with OPc = 0 and RAND = OP gives TEMP = E_K(OP) */
    mil_setup(&m, impl_of(self), k, zero, op);
    for (int i = 0; i < 16; i++)
        r[i] = m.temp[i] ^ op[i];
    secure_wipe(k, sizeof k);
    secure_wipe(&m, sizeof m);
    return mkbytes(r, 16);
}

static PyObject *
f1_common(PyObject *self, fn_spec *spec, int star, PyObject *const *args, Py_ssize_t nargs,
          PyObject *kwnames)
{
    PyObject *a[5];
    mil_ctx m;
    uint8_t sqn[6], amf[2], in1[16], out[5][16];
    if (parse_args(spec, args, nargs, kwnames, a) < 0 || setup_kor(self, a, &m) < 0)
        return NULL;
    PyObject *r = NULL;
    if (get_fixed(a[3], "sqn", 6, sqn) == 0 && get_fixed(a[4], "amf", 2, amf) == 0) {
        make_in1(in1, sqn, amf);
        mil_outs(&m, in1, OUT1, out);
        r = mkbytes(out[0] + (star ? 8 : 0), 8);
    }
    secure_wipe(&m, sizeof m);
    secure_wipe(out, sizeof out);
    return r;
}

PyDoc_STRVAR(f1_doc, "f1($self, /, k, opc, rand, sqn, amf)\n--\n\n"
                     "MAC-A, the network authentication code (8 octets).");

static PyObject *
aka_f1(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return f1_common(self, &SPEC_F1, 0, args, nargs, kwnames);
}

PyDoc_STRVAR(f1star_doc, "f1star($self, /, k, opc, rand, sqn, amf)\n--\n\n"
                         "MAC-S, the resynchronisation authentication code (8 octets).");

static PyObject *
aka_f1star(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return f1_common(self, &SPEC_F1STAR, 1, args, nargs, kwnames);
}

PyDoc_STRVAR(f2345_doc, "f2345($self, /, k, opc, rand)\n--\n\n(RES 8, CK 16, IK 16, AK 6).");

static PyObject *
aka_f2345(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[3];
    mil_ctx m;
    uint8_t out[5][16];
    PARSE(SPEC_F2345, a);
    if (setup_kor(self, a, &m) < 0)
        return NULL;
    mil_outs(&m, NULL, OUT2 | OUT3 | OUT4, out);
    PyObject *r = mktuple4(out[1] + 8, 8, out[2], 16, out[3], 16, out[1], 6);
    secure_wipe(&m, sizeof m);
    secure_wipe(out, sizeof out);
    return r;
}

PyDoc_STRVAR(f5star_doc, "f5star($self, /, k, opc, rand)\n--\n\n"
                         "AK* for resynchronisation (6 octets).");

static PyObject *
aka_f5star(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[3];
    mil_ctx m;
    uint8_t out[5][16];
    PARSE(SPEC_F5STAR, a);
    if (setup_kor(self, a, &m) < 0)
        return NULL;
    mil_outs(&m, NULL, OUT5, out);
    PyObject *r = mkbytes(out[4], 6);
    secure_wipe(&m, sizeof m);
    secure_wipe(out, sizeof out);
    return r;
}

PyDoc_STRVAR(gv_doc, "generate_vector($self, /, k, opc, rand, sqn, amf)\n--\n\n"
                     "(AUTN 16, XRES 8, CK 16, IK 16); AUTN = SQN xor AK || AMF || MAC-A\n"
                     "(TS 33.102 §6.3.2). The HSS hot path: one call per vector.");

static PyObject *
aka_generate_vector(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                    PyObject *kwnames)
{
    PyObject *a[5];
    mil_ctx m;
    uint8_t sqn[6], amf[2], in1[16], out[5][16], autn[16];
    PARSE(SPEC_GV, a);
    if (setup_kor(self, a, &m) < 0)
        return NULL;
    PyObject *r = NULL;
    if (get_fixed(a[3], "sqn", 6, sqn) == 0 && get_fixed(a[4], "amf", 2, amf) == 0) {
        make_in1(in1, sqn, amf);
        mil_outs(&m, in1, OUT1 | OUT2 | OUT3 | OUT4, out);
        /* AUTN = SQN xor AK || AMF || MAC-A (TS 33.102 §6.3.2); AK = f5 = OUT2[0..5] */
        for (int i = 0; i < 6; i++)
            autn[i] = sqn[i] ^ out[1][i];
        memcpy(autn + 6, amf, 2);
        memcpy(autn + 8, out[0], 8);
        r = mktuple4(autn, 16, out[1] + 8, 8, out[2], 16, out[3], 16);
    }
    secure_wipe(&m, sizeof m);
    secure_wipe(out, sizeof out);
    return r;
}

PyDoc_STRVAR(check_autn_doc,
             "check_autn($self, /, k, opc, rand, autn)\n--\n\n"
             "UE side of TS 33.102 §6.3.3: (SQN 6, RES 8, CK 16, IK 16) if MAC-A\n"
             "verifies, else None. The SQN freshness check is the caller's.");

static PyObject *
aka_check_autn(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[4];
    mil_ctx m;
    uint8_t autn[16], sqn[6], in1[16], out[5][16], mac[5][16];
    PARSE(SPEC_CHECK_AUTN, a);
    if (setup_kor(self, a, &m) < 0)
        return NULL;
    PyObject *r = NULL;
    if (get_fixed(a[3], "autn", 16, autn) == 0) {
        /* SQN = (SQN xor AK) xor AK, then recompute MAC-A with the received AMF */
        mil_outs(&m, NULL, OUT2 | OUT3 | OUT4, out);
        for (int i = 0; i < 6; i++)
            sqn[i] = autn[i] ^ out[1][i];
        make_in1(in1, sqn, autn + 6);
        mil_outs(&m, in1, OUT1, mac);
        if (ct_equal(mac[0], autn + 8, 8))
            r = mktuple4(sqn, 6, out[1] + 8, 8, out[2], 16, out[3], 16);
        else
            r = Py_NewRef(Py_None);
    }
    secure_wipe(&m, sizeof m);
    secure_wipe(out, sizeof out);
    secure_wipe(mac, sizeof mac);
    return r;
}

PyDoc_STRVAR(make_auts_doc,
             "make_auts($self, /, k, opc, rand, sqn_ms)\n--\n\n"
             "UE side: AUTS = SQN_MS xor AK* || MAC-S, MAC-S with AMF 0000\n"
             "(TS 33.102 §6.3.3).");

static PyObject *
aka_make_auts(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    (void)self;
    PyObject *a[4];
    mil_ctx m;
    static const uint8_t amf_resync[2] = {0, 0}; /* TS 33.102 §6.3.3: dummy AMF */
    uint8_t sqn[6], in1[16], out[5][16], auts[14];
    PARSE(SPEC_MAKE_AUTS, a);
    if (setup_kor(self, a, &m) < 0)
        return NULL;
    PyObject *r = NULL;
    if (get_fixed(a[3], "sqn_ms", 6, sqn) == 0) {
        make_in1(in1, sqn, amf_resync);
        mil_outs(&m, in1, OUT1 | OUT5, out);
        for (int i = 0; i < 6; i++)
            auts[i] = sqn[i] ^ out[4][i];
        memcpy(auts + 6, out[0] + 8, 8);
        r = mkbytes(auts, 14);
    }
    secure_wipe(&m, sizeof m);
    secure_wipe(out, sizeof out);
    return r;
}

PyDoc_STRVAR(verify_auts_doc,
             "verify_auts($self, /, k, opc, rand, auts)\n--\n\n"
             "HSS side of resynchronisation (TS 33.102 §6.3.5): SQN_MS if MAC-S\n"
             "verifies, else None.");

static PyObject *
aka_verify_auts(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[4];
    mil_ctx m;
    static const uint8_t amf_resync[2] = {0, 0}; /* TS 33.102 §6.3.3: dummy AMF */
    uint8_t auts[14], sqn[6], in1[16], ak[5][16], mac[5][16];
    PARSE(SPEC_VERIFY_AUTS, a);
    if (setup_kor(self, a, &m) < 0)
        return NULL;
    PyObject *r = NULL;
    if (get_fixed(a[3], "auts", 14, auts) == 0) {
        mil_outs(&m, NULL, OUT5, ak);
        for (int i = 0; i < 6; i++)
            sqn[i] = auts[i] ^ ak[4][i];
        make_in1(in1, sqn, amf_resync);
        mil_outs(&m, in1, OUT1, mac);
        r = ct_equal(mac[0] + 8, auts + 6, 8) ? mkbytes(sqn, 6) : Py_NewRef(Py_None);
    }
    secure_wipe(&m, sizeof m);
    secure_wipe(ak, sizeof ak);
    secure_wipe(mac, sizeof mac);
    return r;
}

/* ------------------------------------------------------------------------- */
/* HTTP digest                                                                */
/* ------------------------------------------------------------------------- */
static const char AKAV2_LABEL[] = "http-digest-akav2-password"; /* RFC 4169 §7 */

/* base64(HMAC-MD5(RES || IK || CK, label)) into out[24] (RFC 4169 §7) */
static void
akav2_derive(const uint8_t *res, size_t nres, const uint8_t *ik, const uint8_t *ck,
             char out[24])
{
    uint8_t key[48], mac[16];
    memcpy(key, res, nres);
    memcpy(key + nres, ik, 16);
    memcpy(key + nres + 16, ck, 16);
    hmac_md5(key, nres + 32, (const uint8_t *)AKAV2_LABEL, sizeof AKAV2_LABEL - 1, mac);
    base64_encode(mac, 16, out);
    secure_wipe(key, sizeof key);
    secure_wipe(mac, sizeof mac);
}

PyDoc_STRVAR(akav2_doc, "akav2_password($self, /, res, ik, ck)\n--\n\n"
                        "The AKAv2-MD5 password: base64(HMAC-MD5(RES||IK||CK, label))\n"
                        "(RFC 4169 §7).");

static PyObject *
aka_akav2_password(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                   PyObject *kwnames)
{
    (void)self;
    PyObject *a[3];
    uint8_t res[16], ik[16], ck[16];
    Py_ssize_t nres;
    char out[24];
    PARSE(SPEC_AKAV2, a);
    if (!is_bytes_like(a[0])) {
        type_error("res", "bytes", a[0]);
        return NULL;
    }
    {
        var_arg v;
        var_init(&v);
        if (var_acquire(a[0], &v) < 0)
            return NULL;
        nres = v.n;
        if (nres >= 4 && nres <= 16)
            memcpy(res, v.p, (size_t)nres);
        var_release(&v);
    }
    if (nres < 4 || nres > 16) {
        PyErr_Format(PyExc_ValueError, "res must be 4 to 16 bytes, not %zd", nres);
        return NULL;
    }
    PyObject *r = NULL;
    if (get_fixed(a[1], "ik", 16, ik) == 0 && get_fixed(a[2], "ck", 16, ck) == 0) {
        akav2_derive(res, (size_t)nres, ik, ck, out);
        r = mkbytes((const uint8_t *)out, 24);
    }
    secure_wipe(res, sizeof res);
    secure_wipe(ik, sizeof ik);
    secure_wipe(ck, sizeof ck);
    return r;
}

/* A 32-character lowercase-hex str (always ASCII) */
static PyObject *
hex32_str(const char hex[32])
{
    PyObject *s = PyUnicode_New(32, 127);
    if (s == NULL)
        return NULL;
    memcpy(PyUnicode_DATA(s), hex, 32);
    return s;
}

/* HA1 = MD5(username ":" realm ":" password) (RFC 2617 §3.2.2.2), as hex */
static void
ha1_hex(const char *u, Py_ssize_t nu, const char *r, Py_ssize_t nr, const uint8_t *pw,
        Py_ssize_t npw, char hex[32])
{
    md5_ctx c;
    md5_init(&c);
    md5_update(&c, u, (size_t)nu);
    md5_update(&c, ":", 1);
    md5_update(&c, r, (size_t)nr);
    md5_update(&c, ":", 1);
    md5_update(&c, pw, (size_t)npw);
    md5_hex_final(&c, hex);
    secure_wipe(&c, sizeof c);
}

PyDoc_STRVAR(ha1_doc, "ha1($self, /, username, realm, password)\n--\n\n"
                      "HA1 = MD5(username \":\" realm \":\" password) as 32 lowercase hex "
                      "characters.");

static PyObject *
aka_ha1(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    (void)self;
    PyObject *a[3];
    const char *u, *r;
    Py_ssize_t nu, nr;
    char hex[32];
    PARSE(SPEC_HA1, a);
    if (!is_bytes_like(a[2])) {
        type_error("password", "bytes", a[2]);
        return NULL;
    }
    if (get_str(a[0], "username", &u, &nu) < 0 || get_str(a[1], "realm", &r, &nr) < 0)
        return NULL;
    var_arg pw;
    var_init(&pw);
    if (var_acquire(a[2], &pw) < 0)
        return NULL;
    ha1_hex(u, nu, r, nr, pw.p, pw.n, hex);
    var_release(&pw);
    return hex32_str(hex);
}

enum { ALG_MD5, ALG_AKAV1, ALG_AKAV2 };
enum { QOP_NONE, QOP_AUTH, QOP_AUTH_INT };

/* ASCII case-insensitive match of a UTF-8 string against a lowercase literal */
static int
ascii_ieq(const char *s, Py_ssize_t n, const char *lit)
{
    Py_ssize_t i = 0;
    for (; i < n && lit[i]; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if (c != lit[i])
            return 0;
    }
    return i == n && lit[i] == '\0';
}

/* The twin's `algorithm.lower() or "md5"` and `alg not in _ALGORITHMS`. Exact ASCII
 * strings take a fast path; anything else goes through str.lower() itself so that
 * Unicode case mapping (e.g. KELVIN SIGN -> 'k') behaves exactly like the twin. */
static int
parse_algorithm(PyObject *alg)
{
    if (PyUnicode_CheckExact(alg) && PyUnicode_IS_ASCII(alg)) {
        const char *s = (const char *)PyUnicode_DATA(alg);
        Py_ssize_t n = PyUnicode_GET_LENGTH(alg);
        if (n == 0 || ascii_ieq(s, n, "md5"))
            return ALG_MD5;
        if (ascii_ieq(s, n, "akav1-md5"))
            return ALG_AKAV1;
        if (ascii_ieq(s, n, "akav2-md5"))
            return ALG_AKAV2;
    }
    else {
        static const char *const names[3] = {"md5", "akav1-md5", "akav2-md5"};
        PyObject *low = PyObject_CallMethod(alg, "lower", NULL);
        if (low == NULL)
            return -1;
        int truth = PyObject_IsTrue(low);
        if (truth <= 0) {
            Py_DECREF(low);
            return truth < 0 ? -1 : ALG_MD5;
        }
        for (int i = 0; i < 3; i++) {
            PyObject *name = PyUnicode_FromString(names[i]);
            if (name == NULL) {
                Py_DECREF(low);
                return -1;
            }
            int eq = PyObject_RichCompareBool(low, name, Py_EQ);
            Py_DECREF(name);
            if (eq != 0) {
                Py_DECREF(low);
                return eq < 0 ? -1 : i;
            }
        }
        Py_DECREF(low);
    }
    PyErr_Format(PyExc_ValueError, "unsupported digest algorithm %R", alg);
    return -1;
}

/* The twin's `qop not in ("", "auth", "auth-int")`: exact, case-sensitive */
static int
parse_qop(const char *q, Py_ssize_t n, PyObject *qop)
{
    if (n == 0)
        return QOP_NONE;
    if (n == 4 && memcmp(q, "auth", 4) == 0)
        return QOP_AUTH;
    if (n == 8 && memcmp(q, "auth-int", 8) == 0)
        return QOP_AUTH_INT;
    PyErr_Format(PyExc_ValueError, "unsupported qop %R", qop);
    return -1;
}

/*
 * The response from HA1 (RFC 2617 §3.2.2.1):
 *   qop = auth:     MD5(HA1:nonce:nc:cnonce:qop:HA2), HA2 = MD5(method:uri)
 *   qop = auth-int: same with HA2 = MD5(method:uri:MD5(body))  (§3.2.2.3)
 *   no qop:         MD5(HA1:nonce:HA2), the RFC 2069 form
 * a[0..6] = method, uri, nonce, nc, cnonce, qop, body (body may be NULL = b"").
 * ha1 is 32 octets, already lowercased by the caller.
 */
static PyObject *
response_common(const char ha1[32], PyObject **a)
{
    static const char *const names[6] = {"method", "uri", "nonce", "nc", "cnonce", "qop"};
    const char *s[6];
    Py_ssize_t n[6];
    for (int i = 0; i < 6; i++)
        if (get_str(a[i], names[i], &s[i], &n[i]) < 0)
            return NULL;
    PyObject *body = a[6];
    if (body != NULL && !is_bytes_like(body)) {
        type_error("body", "bytes", body);
        return NULL;
    }
    int qop = parse_qop(s[5], n[5], a[5]);
    if (qop < 0)
        return NULL;

    md5_ctx c;
    char ha2[32], bodyhex[32], hex[32];
    md5_init(&c);
    md5_update(&c, s[0], (size_t)n[0]);
    md5_update(&c, ":", 1);
    md5_update(&c, s[1], (size_t)n[1]);
    if (qop == QOP_AUTH_INT) {
        md5_ctx cb;
        md5_init(&cb);
        if (body != NULL) {
            var_arg b;
            var_init(&b);
            if (var_acquire(body, &b) < 0)
                return NULL;
            md5_update(&cb, b.p, (size_t)b.n);
            var_release(&b);
        }
        md5_hex_final(&cb, bodyhex);
        md5_update(&c, ":", 1);
        md5_update(&c, bodyhex, 32);
    }
    md5_hex_final(&c, ha2);

    md5_init(&c);
    md5_update(&c, ha1, 32);
    md5_update(&c, ":", 1);
    md5_update(&c, s[2], (size_t)n[2]);
    md5_update(&c, ":", 1);
    if (qop != QOP_NONE) {
        md5_update(&c, s[3], (size_t)n[3]);
        md5_update(&c, ":", 1);
        md5_update(&c, s[4], (size_t)n[4]);
        md5_update(&c, ":", 1);
        md5_update(&c, s[5], (size_t)n[5]);
        md5_update(&c, ":", 1);
    }
    md5_update(&c, ha2, 32);
    md5_hex_final(&c, hex);
    return hex32_str(hex);
}

PyDoc_STRVAR(digest_doc,
             "digest_response($self, /, algorithm, username, realm, password, method,\n"
             "                uri, nonce, nc, cnonce, qop, body=b'')\n--\n\n"
             "The digest response value as 32 lowercase hex characters.\n\n"
             "algorithm is MD5 (or empty), AKAv1-MD5 (password = RES, RFC 3310) or\n"
             "AKAv2-MD5 (password = RES||IK||CK; the RFC 4169 password is derived here).\n"
             "qop is auth, auth-int (body is hashed) or empty (RFC 2069 form).");

static PyObject *
aka_digest_response(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                    PyObject *kwnames)
{
    (void)self;
    PyObject *a[11];
    const char *u, *r;
    Py_ssize_t nu, nr;
    char h1[32];
    PARSE(SPEC_DIGEST, a);
    if (!PyUnicode_Check(a[0])) {
        type_error("algorithm", "str", a[0]);
        return NULL;
    }
    if (!is_bytes_like(a[3])) {
        type_error("password", "bytes", a[3]);
        return NULL;
    }
    /* The twin takes bytes(password) before checking the algorithm; same order here.
     * parse_algorithm may run Python code (str subclasses): the buffer export we hold
     * keeps a bytearray from being resized meanwhile, and bytes are immutable. */
    var_arg pw;
    var_init(&pw);
    if (var_acquire(a[3], &pw) < 0)
        return NULL;
    int alg = parse_algorithm(a[0]);
    if (alg < 0) {
        var_release(&pw);
        return NULL;
    }
    const uint8_t *pwp = pw.p;
    Py_ssize_t npw = pw.n;
    char akav2[24];
    if (alg == ALG_AKAV2) {
        /* password carries RES||IK||CK, RES 4..16 octets (TS 33.102 §6.3.2) */
        if (npw < 36 || npw > 48) {
            var_release(&pw);
            /* the format must be ASCII; "\xe2\x80\x96" is U+2016 (as in the twin) */
            PyErr_Format(PyExc_ValueError,
                         "AKAv2-MD5 password must be RES%sIK%sCK (36-48 bytes), not %zd",
                         "\xe2\x80\x96", "\xe2\x80\x96", npw);
            return NULL;
        }
        akav2_derive(pwp, (size_t)(npw - 32), pwp + npw - 32, pwp + npw - 16, akav2);
        pwp = (const uint8_t *)akav2;
        npw = 24;
    }
    if (get_str(a[1], "username", &u, &nu) < 0 || get_str(a[2], "realm", &r, &nr) < 0) {
        var_release(&pw);
        secure_wipe(akav2, sizeof akav2);
        return NULL;
    }
    ha1_hex(u, nu, r, nr, pwp, npw, h1);
    var_release(&pw);
    secure_wipe(akav2, sizeof akav2);
    PyObject *res = response_common(h1, a + 4);
    secure_wipe(h1, sizeof h1);
    return res;
}

PyDoc_STRVAR(digest_ha1_doc,
             "digest_response_ha1($self, /, ha1, method, uri, nonce, nc, cnonce, qop,\n"
             "                    body=b'')\n--\n\n"
             "The digest response from a stored HA1 (Digest-HA1 from the HSS).");

static PyObject *
aka_digest_response_ha1(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames)
{
    (void)self;
    PyObject *a[8];
    const char *h;
    Py_ssize_t nh;
    char h1[32];
    PARSE(SPEC_DIGEST_HA1, a);
    if (get_str(a[0], "ha1", &h, &nh) < 0)
        return NULL;
    if (nh != 32) {
        PyErr_Format(PyExc_ValueError, "ha1 must be 32 hex characters, not %zd", nh);
        return NULL;
    }
    for (int i = 0; i < 32; i++) /* bytes.lower(): ASCII only */
        h1[i] = (h[i] >= 'A' && h[i] <= 'Z') ? (char)(h[i] + 32) : h[i];
    PyObject *res = response_common(h1, a + 1);
    secure_wipe(h1, sizeof h1);
    return res;
}

/* ASCII lowercase without a data-dependent branch */
static inline unsigned
ct_lower(unsigned char c)
{
    return c | ((unsigned)((unsigned)(c - 'A') < 26u) << 5);
}

PyDoc_STRVAR(verify_response_doc,
             "verify_response($self, /, received, expected)\n--\n\n"
             "Constant-time comparison of a received digest response with the expected\n"
             "one; hex case is ignored.");

static PyObject *
aka_verify_response(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                    PyObject *kwnames)
{
    (void)self;
    PyObject *a[2];
    const char *rp, *ep;
    Py_ssize_t nr, ne;
    PARSE(SPEC_VERIFY_RESPONSE, a);
    if (get_str(a[0], "received", &rp, &nr) < 0 || get_str(a[1], "expected", &ep, &ne) < 0)
        return NULL;
    /* Like hmac.compare_digest: time depends on the expected length only; a length
     * mismatch compares expected with itself and fails. */
    unsigned diff = (nr != ne);
    const char *left = (nr == ne) ? rp : ep;
    for (Py_ssize_t i = 0; i < ne; i++)
        diff |= ct_lower((unsigned char)left[i]) ^ ct_lower((unsigned char)ep[i]);
    return PyBool_FromLong(diff == 0);
}

/* ------------------------------------------------------------------------- */
/* AES paths: aes_impl, with_aes                                              */
/* ------------------------------------------------------------------------- */
PyDoc_STRVAR(aes_impl_doc, "aes_impl($self, /)\n--\n\n"
                           "Which AES these functions use: \"aesni\" or \"portable\".");

static PyObject *
aka_aes_impl(PyObject *self, PyObject *unused)
{
    (void)unused;
    return PyUnicode_FromString(impl_of(self)->name);
}

PyDoc_STRVAR(with_aes_doc,
             "with_aes($module, /, name)\n--\n\n"
             "The module's functions bound to one AES path, name \"aesni\" or \"portable\".\n"
             "ValueError for \"aesni\" on a CPU without AES-NI. The module's own choice,\n"
             "made at import, never changes.");

static PyObject *
aka_with_aes(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    (void)module;
    PyObject *a[1];
    const char *name;
    Py_ssize_t n;
    PARSE(SPEC_WITH_AES, a);
    if (get_str(a[0], "name", &name, &n) < 0)
        return NULL;
    int whole = (size_t)n == strlen(name); /* no NUL inside */
    const struct mil_impl *impl = whole ? find_aes(name) : NULL;
    if (impl != NULL)
        return akacore_new(impl);
    if (whole && strcmp(name, "aesni") == 0)
        PyErr_SetString(PyExc_ValueError, "this CPU has no AES-NI");
    else
        PyErr_Format(PyExc_ValueError, "unknown AES path %R (\"aesni\" or \"portable\")", a[0]);
    return NULL;
}

/* ------------------------------------------------------------------------- */
/* Module                                                                     */
/* ------------------------------------------------------------------------- */
#define FASTKW(name, fn, doc) \
    {name, (PyCFunction)(void (*)(void))(fn), METH_FASTCALL | METH_KEYWORDS, doc}

/* The functions of an AkaCore; the module exposes the same ones bound to its own. */
static PyMethodDef aka_methods[] = {
    FASTKW("opc", aka_opc, opc_doc),
    FASTKW("f1", aka_f1, f1_doc),
    FASTKW("f1star", aka_f1star, f1star_doc),
    FASTKW("f2345", aka_f2345, f2345_doc),
    FASTKW("f5star", aka_f5star, f5star_doc),
    FASTKW("generate_vector", aka_generate_vector, gv_doc),
    FASTKW("check_autn", aka_check_autn, check_autn_doc),
    FASTKW("make_auts", aka_make_auts, make_auts_doc),
    FASTKW("verify_auts", aka_verify_auts, verify_auts_doc),
    FASTKW("akav2_password", aka_akav2_password, akav2_doc),
    FASTKW("ha1", aka_ha1, ha1_doc),
    FASTKW("digest_response", aka_digest_response, digest_doc),
    FASTKW("digest_response_ha1", aka_digest_response_ha1, digest_ha1_doc),
    FASTKW("verify_response", aka_verify_response, verify_response_doc),
    {"aes_impl", aka_aes_impl, METH_NOARGS, aes_impl_doc},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef module_methods[] = {
    FASTKW("with_aes", aka_with_aes, with_aes_doc),
    {NULL, NULL, 0, NULL},
};

static PyObject *
akacore_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<AkaCore aes='%s'>", impl_of(self)->name);
}

PyDoc_STRVAR(akacore_doc,
             "The auth core's functions bound to one AES path (from with_aes()).\n"
             "Immutable; safe to share between threads.");

static PyTypeObject AkaCore_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ims_core.auth._akacore.AkaCore",
    .tp_basicsize = sizeof(AkaCore),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE |
                Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .tp_doc = akacore_doc,
    .tp_repr = akacore_repr,
    .tp_methods = aka_methods,
};

PyDoc_STRVAR(module_doc,
             "C auth core: Milenage (TS 35.206), AKA vectors and resynchronisation\n"
             "(TS 33.102), HTTP digest (RFC 2617, RFC 3310, RFC 4169). Same API as\n"
             "ims_core.auth.akacore_py.");

static struct PyModuleDef aka_module = {
    PyModuleDef_HEAD_INIT, "_akacore", module_doc, -1, module_methods,
    NULL, NULL, NULL, NULL,
};

/* Once per process: tables, interned keyword names, the CPU check, the exception and
 * the AkaCore type (its class dict carries ArgumentTypeError, as the module does). */
static int
init_once(void)
{
    static int initialised;
    if (initialised)
        return 0;
    aes_sbox_init();
    for (size_t s = 0; s < sizeof ALL_SPECS / sizeof ALL_SPECS[0]; s++)
        for (int i = 0; i < ALL_SPECS[s]->nparams; i++) {
            PyObject *o = PyUnicode_InternFromString(ALL_SPECS[s]->names[i]);
            if (o == NULL)
                return -1; /* already-interned names stay: harmless, reused */
            Py_XSETREF(ALL_SPECS[s]->interned[i], o);
        }
#if AKA_HAVE_AESNI
    __builtin_cpu_init();
    cpu_has_aesni = __builtin_cpu_supports("aes") ? 1 : 0;
#endif
    if (ArgumentTypeError == NULL) {
        PyObject *bases = PyTuple_Pack(2, PyExc_TypeError, PyExc_ValueError);
        if (bases == NULL)
            return -1;
        ArgumentTypeError = PyErr_NewExceptionWithDoc(
            "ims_core.auth._akacore.ArgumentTypeError",
            "An argument of the wrong type (both a TypeError and a ValueError).", bases,
            NULL);
        Py_DECREF(bases);
        if (ArgumentTypeError == NULL)
            return -1;
    }
    /* PyType_Ready keeps a dict that is already there */
    if (AkaCore_Type.tp_dict == NULL) {
        PyObject *d = PyDict_New();
        if (d == NULL)
            return -1;
        if (PyDict_SetItemString(d, "ArgumentTypeError", ArgumentTypeError) < 0) {
            Py_DECREF(d);
            return -1;
        }
        AkaCore_Type.tp_dict = d;
    }
    if (PyType_Ready(&AkaCore_Type) < 0)
        return -1;
    initialised = 1;
    return 0;
}

PyMODINIT_FUNC
PyInit__akacore(void)
{
    if (init_once() < 0)
        return NULL;
    /* The module's AES path, chosen here once: IMS_CORE_AES=portable, else AES-NI
     * when the CPU has it. Nothing can change it afterwards; with_aes() gives other
     * paths to whoever asks, without touching this one. */
    const char *env = getenv("IMS_CORE_AES");
    const struct mil_impl *impl = NULL;
    if (env == NULL || strcmp(env, "portable") != 0)
        impl = find_aes("aesni");
    if (impl == NULL)
        impl = &MIL_PORTABLE;

    PyObject *m = PyModule_Create(&aka_module);
    if (m == NULL)
        return NULL;
    PyObject *core = NULL, *modname = PyModule_GetNameObject(m);
    if (modname == NULL)
        goto fail;
    if ((core = akacore_new(impl)) == NULL)
        goto fail;
    for (PyMethodDef *ml = aka_methods; ml->ml_name != NULL; ml++) {
        PyObject *f = PyCFunction_NewEx(ml, core, modname);
        if (f == NULL)
            goto fail;
        int rc = PyModule_AddObjectRef(m, ml->ml_name, f);
        Py_DECREF(f);
        if (rc < 0)
            goto fail;
    }
    if (PyModule_AddObjectRef(m, "ArgumentTypeError", ArgumentTypeError) < 0 ||
        PyModule_AddObjectRef(m, "AkaCore", (PyObject *)&AkaCore_Type) < 0)
        goto fail;
    Py_DECREF(core);
    Py_DECREF(modname);
    return m;
fail:
    Py_XDECREF(core);
    Py_XDECREF(modname);
    Py_DECREF(m);
    return NULL;
}
