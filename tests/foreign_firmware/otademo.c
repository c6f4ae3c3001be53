/*
 * otademo.c - a small stand-alone POSIX "firmware" that performs an AWS IoT
 * OTA update the way a device would: AWS IoT Jobs over MQTT, the JSON flavour
 * of MQTT-based file delivery ("streams"), ECDSA P-256 / SHA-256 code signing,
 * and a self-test after "reboot" into the new image.
 *
 * It is deliberately independent of otarig's own simulated board: it was
 * written from the protocol reference (AWS IoT Jobs device MQTT API, the
 * afr_ota job document, GetStream, UpdateJobExecution status payloads), so
 * the rig can be tested against firmware it did not write itself.
 *
 * Build (APP_VERSION is the firmware version, major.minor.build):
 *   cc -std=c11 -O1 -Wall -Wextra -Werror -DAPP_VERSION='"0.9.5"' \
 *      tests/foreign_firmware/otademo.c -lmosquitto -lcjson -lcrypto -o OUT
 *
 * Process model: "reset" = process exit.  After an exit the rig's bootloader
 * runs the file the job named in `filepath` (relative to the cwd) if it is
 * executable, else the original program again.  A power cut is a SIGKILL at
 * any moment, so every persistent step is ordered to be safe to interrupt.
 *
 * Persistent state: the file `image-state` in the cwd.
 *   absent                          normal boot
 *   "pending <OLD_VERSION> <JOBID>" this boot is the self-test of a freshly
 *                                   activated image written by OLD_VERSION
 *
 * Everything runs in one thread: libmosquitto's mosquitto_loop() with a short
 * timeout, callbacks that feed a small state machine, and tick() for timers.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <mosquitto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#ifndef APP_VERSION
#define APP_VERSION "0.0.0"
#endif

#define STATE_FILE       "image-state"
#define BLOCK_SIZE       1024     /* bytes per stream block ("l")            */
#define BLOCKS_PER_REQ   8        /* blocks asked for per GetStream ("n")    */
#define RETRY_MS         3000     /* silence before re-requesting blocks     */
#define MAX_RETRIES      5        /* silent re-requests before FAILED        */
#define ACTIVATE_WAIT_MS 2000     /* wait for update/accepted before reset   */
#define ACK_WAIT_MS      5000     /* wait for update/accepted of a verdict   */
#define KEEPALIVE_S      60

/* ------------------------------------------------------------------------ */
/* Logging: one line per call, always prefixed, stdout is line buffered.    */

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    va_list ap;
    fputs("demo-fw: ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
}
#define LOG(...) logf_(__VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* Configuration (environment + --thing).                                   */

static struct {
    const char *host, *thing, *root_ca, *client_cert, *client_key, *codesign;
    int port;
    bool tls;
} cfg;

/* ------------------------------------------------------------------------ */
/* Device state.                                                            */

enum state {
    ST_IDLE,        /* waiting for a job                                    */
    ST_DOWNLOADING, /* stream transfer in progress                          */
    ST_ACTIVATING,  /* image verified, waiting for self_test:ready ack      */
    ST_ACCEPTING,   /* self-test passed, waiting for SUCCEEDED ack          */
    ST_REJECTING,   /* self-test failed, waiting for FAILED ack             */
};

struct job {
    char id[80];
    char stream[136];
    char filepath[PATH_MAX];
    char certfile[PATH_MAX];
    char *sig_b64;
    long fileid;
    long filesize;
    long nblocks;
    uint8_t *have;      /* bitmap: bit i set = block i written             */
    long received;      /* number of distinct blocks written               */
    int fd;
    long win_lo, win_hi;/* blocks [lo, hi) asked for by the last request    */
    int retries;        /* consecutive silent re-requests                   */
};

static struct mosquitto *mosq;
static enum state st = ST_IDLE;
static struct job job = { .fd = -1 };
static char topic_prefix[200];      /* "$aws/things/<thing>/"              */
static unsigned token_counter;
static char await_token[96];        /* clientToken of the update we await  */
static int64_t deadline_ms;         /* timer for ACTIVATING/ACCEPTING/...  */
static int64_t last_rx_ms;          /* last stream activity                */

static bool pending;                /* image-state says "pending"          */
static bool rejected_once;          /* this boot already rejected itself   */
static char pending_old[32], pending_job[80];

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* ------------------------------------------------------------------------ */
/* Versions: "major.minor.build", compared numerically.                     */

static bool parse_version(const char *s, unsigned v[3])
{
    char tail;
    return s && sscanf(s, "%u.%u.%u%c", &v[0], &v[1], &v[2], &tail) == 3;
}

/* <0, 0, >0 like strcmp; unparsable versions compare as 0.0.0 */
static int version_cmp(const char *a, const char *b)
{
    unsigned va[3] = {0, 0, 0}, vb[3] = {0, 0, 0};
    parse_version(a, va);
    parse_version(b, vb);
    for (int i = 0; i < 3; i++)
        if (va[i] != vb[i])
            return va[i] < vb[i] ? -1 : 1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* image-state file.                                                        */

static void load_state(void)
{
    FILE *f = fopen(STATE_FILE, "r");
    if (!f)
        return;
    char word[16] = "";
    if (fscanf(f, "%15s %31s %79s", word, pending_old, pending_job) == 3 &&
        strcmp(word, "pending") == 0) {
        pending = true;
        LOG("image state: pending self-test of job %s (updated by v%s)",
            pending_job, pending_old);
    } else {
        LOG("image state: unreadable, ignoring it");
        unlink(STATE_FILE);
    }
    fclose(f);
}

/* Written via a temporary file + rename so a power cut leaves either the old
 * or the new content, never a torn file. */
static bool write_state(const char *old_version, const char *job_id)
{
    FILE *f = fopen(STATE_FILE ".tmp", "w");
    if (!f)
        return false;
    fprintf(f, "pending %s %s\n", old_version, job_id);
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    return ok && rename(STATE_FILE ".tmp", STATE_FILE) == 0;
}

static void drop_state(void)
{
    unlink(STATE_FILE);
    pending = false;
}

/* ------------------------------------------------------------------------ */
/* MQTT helpers.                                                            */

static void next_token(char *buf, size_t cap)
{
    snprintf(buf, cap, "%u:%s", token_counter++, cfg.thing);
}

static void publish_json(const char *topic, cJSON *obj, int qos)
{
    char *text = cJSON_PrintUnformatted(obj);
    if (!text)
        return;
    int rc = mosquitto_publish(mosq, NULL, topic, (int)strlen(text), text, qos, false);
    if (rc != MOSQ_ERR_SUCCESS)
        LOG("publish to %s failed: %s", topic, mosquitto_strerror(rc));
    free(text);
}

static void request_next_job(void)
{
    char topic[512], tok[96];
    next_token(tok, sizeof tok);
    snprintf(topic, sizeof topic, "%sjobs/$next/get", topic_prefix);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "clientToken", tok);
    publish_json(topic, o, 1);
    cJSON_Delete(o);
}

/* UpdateJobExecution.  `details` (may be NULL) is a flat list of key/value
 * string pairs terminated by NULL; it is consumed as statusDetails.  The
 * clientToken is remembered in await_token so the answer can be matched. */
static void update_job(const char *job_id, const char *status, ...)
{
    char topic[512];
    snprintf(topic, sizeof topic, "%sjobs/%s/update", topic_prefix, job_id);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", status);
    va_list ap;
    va_start(ap, status);
    const char *k = va_arg(ap, const char *);
    if (k) {
        cJSON *d = cJSON_AddObjectToObject(o, "statusDetails");
        for (; k; k = va_arg(ap, const char *))
            cJSON_AddStringToObject(d, k, va_arg(ap, const char *));
    }
    va_end(ap);
    next_token(await_token, sizeof await_token);
    cJSON_AddStringToObject(o, "clientToken", await_token);
    publish_json(topic, o, 1);
    cJSON_Delete(o);
}

/* ------------------------------------------------------------------------ */
/* Job bookkeeping.                                                         */

static void job_clear(void)
{
    if (job.fd >= 0)
        close(job.fd);
    free(job.sig_b64);
    free(job.have);
    memset(&job, 0, sizeof job);
    job.fd = -1;
}

/* Terminal failure of the current job: remove the partial/bad file, report
 * FAILED with a reason, and go back to waiting for jobs. */
static void fail_job(const char *reason)
{
    LOG("job %s: failed: %s", job.id, reason);
    if (job.fd >= 0) {
        close(job.fd);
        job.fd = -1;
    }
    if (job.filepath[0])
        unlink(job.filepath);
    update_job(job.id, "FAILED", "reason", reason, (const char *)NULL);
    job_clear();
    st = ST_IDLE;
}

/* Copy the afr_ota fields of files[0] into `j`.  Returns the name of the
 * first missing/mistyped field, or NULL when the document is usable. */
static const char *parse_job_doc(cJSON *exec, struct job *j)
{
    cJSON *doc = cJSON_GetObjectItemCaseSensitive(exec, "jobDocument");
    cJSON *ota = cJSON_GetObjectItemCaseSensitive(doc, "afr_ota");
    if (!cJSON_IsObject(ota))
        return "afr_ota";
    cJSON *stream = cJSON_GetObjectItemCaseSensitive(ota, "streamname");
    cJSON *files = cJSON_GetObjectItemCaseSensitive(ota, "files");
    cJSON *f0 = cJSON_IsArray(files) ? cJSON_GetArrayItem(files, 0) : NULL;
    if (!cJSON_IsObject(f0))
        return "files[0]";
    cJSON *path = cJSON_GetObjectItemCaseSensitive(f0, "filepath");
    cJSON *size = cJSON_GetObjectItemCaseSensitive(f0, "filesize");
    cJSON *fid = cJSON_GetObjectItemCaseSensitive(f0, "fileid");
    cJSON *cert = cJSON_GetObjectItemCaseSensitive(f0, "certfile");
    cJSON *sig = cJSON_GetObjectItemCaseSensitive(f0, "sig-sha256-ecdsa");
    if (!cJSON_IsString(stream) || !stream->valuestring[0]) return "streamname";
    if (!cJSON_IsString(path) || !path->valuestring[0])     return "filepath";
    if (!cJSON_IsNumber(size) || size->valuedouble < 1)     return "filesize";
    if (!cJSON_IsNumber(fid) || fid->valuedouble < 0)       return "fileid";
    if (!cJSON_IsString(sig) || !sig->valuestring[0])       return "sig-sha256-ecdsa";
    copy_str(j->stream, sizeof j->stream, stream->valuestring);
    copy_str(j->filepath, sizeof j->filepath, path->valuestring);
    copy_str(j->certfile, sizeof j->certfile,
             cJSON_IsString(cert) ? cert->valuestring : "");
    j->filesize = (long)size->valuedouble;
    j->fileid = (long)fid->valuedouble;
    j->sig_b64 = strdup(sig->valuestring);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Crypto: base64 and ECDSA P-256 / SHA-256 signature check.                */

/* Decodes standard base64 (padding allowed); returns length or -1. */
static int b64_decode(const char *in, unsigned char *out, size_t cap)
{
    size_t len = strlen(in);
    if (cap < len / 4 * 3 + 3)
        return -1;
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    int n = 0, m = 0;
    EVP_DecodeInit(ctx);
    if (EVP_DecodeUpdate(ctx, out, &n, (const unsigned char *)in, (int)len) < 0 ||
        EVP_DecodeFinal(ctx, out + n, &m) < 0) {
        EVP_ENCODE_CTX_free(ctx);
        return -1;
    }
    EVP_ENCODE_CTX_free(ctx);
    return n + m;
}

/* Verifies the downloaded file.  Returns true if the signature is good;
 * otherwise `why` says what went wrong. */
static bool verify_signature(char *why, size_t whylen)
{
    /* The signer certificate: the job's certfile if that file exists (a
     * relative path is relative to the cwd), else the built-in one. */
    const char *certpath = cfg.codesign;
    if (job.certfile[0] && access(job.certfile, R_OK) == 0)
        certpath = job.certfile;
    LOG("job %s: checking sig-sha256-ecdsa with %s", job.id, certpath);

    bool ok = false;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *md = NULL;
    FILE *cf = NULL, *img = NULL;
    unsigned char *sig = NULL;
    int siglen;

    size_t sigcap = strlen(job.sig_b64) + 4;
    sig = malloc(sigcap);
    if (!sig || (siglen = b64_decode(job.sig_b64, sig, sigcap)) <= 0) {
        snprintf(why, whylen, "signature is not valid base64");
        goto out;
    }
    if (!(cf = fopen(certpath, "r")) || !(cert = PEM_read_X509(cf, NULL, NULL, NULL)) ||
        !(key = X509_get_pubkey(cert))) {
        snprintf(why, whylen, "cannot read signer certificate %s", certpath);
        goto out;
    }
    if (EVP_PKEY_base_id(key) != EVP_PKEY_EC) {
        snprintf(why, whylen, "signer key is not an EC key");
        goto out;
    }
    if (!(img = fopen(job.filepath, "rb"))) {
        snprintf(why, whylen, "cannot reopen %s", job.filepath);
        goto out;
    }
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) != 1) {
        snprintf(why, whylen, "EVP_DigestVerifyInit failed");
        goto out;
    }
    unsigned char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, img)) > 0)
        EVP_DigestVerifyUpdate(md, buf, n);
    if (EVP_DigestVerifyFinal(md, sig, (size_t)siglen) == 1)
        ok = true;
    else
        snprintf(why, whylen, "ECDSA verification failed");
out:
    if (img) fclose(img);
    if (cf) fclose(cf);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    X509_free(cert);
    free(sig);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* Download through the JSON stream API.                                    */

static bool have_block(long i) { return job.have[i >> 3] & (1u << (i & 7)); }

static long block_len(long i)
{
    return i == job.nblocks - 1 ? job.filesize - i * BLOCK_SIZE : BLOCK_SIZE;
}

/* GetStream for up to BLOCKS_PER_REQ blocks from the first missing one. */
static void request_blocks(void)
{
    long lo = 0;
    while (lo < job.nblocks && have_block(lo))
        lo++;
    long n = job.nblocks - lo < BLOCKS_PER_REQ ? job.nblocks - lo : BLOCKS_PER_REQ;
    job.win_lo = lo;
    job.win_hi = lo + n;

    char topic[512], tok[96];
    snprintf(topic, sizeof topic, "%sstreams/%s/get/json", topic_prefix, job.stream);
    next_token(tok, sizeof tok);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "c", tok);
    cJSON_AddNumberToObject(o, "f", (double)job.fileid);
    cJSON_AddNumberToObject(o, "l", BLOCK_SIZE);
    cJSON_AddNumberToObject(o, "o", (double)lo);
    cJSON_AddNumberToObject(o, "n", (double)n);
    publish_json(topic, o, 0);
    cJSON_Delete(o);
    last_rx_ms = now_ms();
}

static void start_download(void)
{
    job.nblocks = (job.filesize + BLOCK_SIZE - 1) / BLOCK_SIZE;
    job.have = calloc((size_t)job.nblocks / 8 + 1, 1);
    /* Unlink first: the path may be the image we are running from (truncating
     * it would fail with ETXTBSY) or an older executable image (truncating it
     * would keep its 0755 mode, and the bootloader would run a partial file
     * after a power cut).  The fresh file is 0644 until it is verified. */
    unlink(job.filepath);
    job.fd = open(job.filepath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (!job.have || job.fd < 0) {
        char why[PATH_MAX + 64];
        snprintf(why, sizeof why, "cannot create %s: %s", job.filepath, strerror(errno));
        fail_job(why);
        return;
    }
    st = ST_DOWNLOADING;
    update_job(job.id, "IN_PROGRESS", (const char *)NULL);
    LOG("job %s: downloading %ld bytes in %ld blocks from stream %s to %s",
        job.id, job.filesize, job.nblocks, job.stream, job.filepath);
    request_blocks();
}

static void download_complete(void)
{
    bool synced = fsync(job.fd) == 0;
    close(job.fd);
    job.fd = -1;
    LOG("job %s: download complete (%ld bytes)", job.id, job.filesize);
    if (!synced) {
        fail_job("cannot write image file");
        return;
    }

    char why[PATH_MAX + 64] = "";
    if (!verify_signature(why, sizeof why)) {
        LOG("signature check failed (%s)", why);
        fail_job("signature check failed");
        return;
    }
    LOG("signature ok");

    /* Order matters for power cuts: make the image bootable, then record the
     * pending self-test, then tell the cloud.  If power is lost in between,
     * the new image still boots in self-test mode and decides by itself. */
    if (chmod(job.filepath, 0755) != 0 || !write_state(APP_VERSION, job.id)) {
        fail_job("cannot activate image");
        return;
    }
    update_job(job.id, "IN_PROGRESS", "self_test", "ready", "updatedBy", APP_VERSION,
               (const char *)NULL);
    st = ST_ACTIVATING;
    deadline_ms = now_ms() + ACTIVATE_WAIT_MS;
}

/* One data message: {"c":..,"f":..,"l":..,"i":..,"p":"<base64>"} */
static void handle_block(const char *stream, const char *payload, int len)
{
    if (st != ST_DOWNLOADING || strcmp(stream, job.stream) != 0)
        return;
    cJSON *o = cJSON_ParseWithLength(payload, (size_t)len);
    cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "f");
    cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "l");
    cJSON *i = cJSON_GetObjectItemCaseSensitive(o, "i");
    cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "p");
    if (!cJSON_IsNumber(i) || !cJSON_IsNumber(l) || !cJSON_IsString(p)) {
        LOG("job %s: malformed data block ignored", job.id);
        goto out;
    }
    if (cJSON_IsNumber(f) && (long)f->valuedouble != job.fileid)
        goto out; /* another file of the same stream */
    long idx = (long)i->valuedouble;
    if (idx < 0 || idx >= job.nblocks || (long)l->valuedouble != block_len(idx)) {
        LOG("job %s: block %ld (length %ld) out of range, ignored", job.id, idx,
            (long)l->valuedouble);
        goto out;
    }
    last_rx_ms = now_ms();
    if (have_block(idx))
        goto out; /* duplicate */

    unsigned char data[BLOCK_SIZE + 8];
    size_t plen = strlen(p->valuestring);
    if (plen > (BLOCK_SIZE + 2) / 3 * 4 + 4 || b64_decode(p->valuestring, data, sizeof data) != block_len(idx)) {
        LOG("job %s: block %ld payload does not decode to %ld bytes, ignored", job.id, idx,
            block_len(idx));
        goto out;
    }
    if (pwrite(job.fd, data, (size_t)block_len(idx), (off_t)idx * BLOCK_SIZE) != block_len(idx)) {
        char why[96];
        snprintf(why, sizeof why, "write failed at block %ld: %s", idx, strerror(errno));
        fail_job(why);
        goto out;
    }
    job.have[idx >> 3] |= (uint8_t)(1u << (idx & 7));
    job.received++;
    job.retries = 0;
    long step = job.nblocks / 10 > 32 ? job.nblocks / 10 : 32; /* ~10 progress lines */
    if (job.received % step == 0 && job.received < job.nblocks)
        LOG("job %s: %ld/%ld blocks", job.id, job.received, job.nblocks);

    if (job.received == job.nblocks) {
        download_complete();
        goto out;
    }
    /* When every block of the current window is in, ask for the next one. */
    bool window_done = true;
    for (long b = job.win_lo; b < job.win_hi; b++)
        if (!have_block(b))
            window_done = false;
    if (window_done)
        request_blocks();
out:
    cJSON_Delete(o);
}

static void handle_stream_rejected(const char *stream, const char *payload, int len)
{
    if (st != ST_DOWNLOADING || strcmp(stream, job.stream) != 0)
        return;
    cJSON *o = cJSON_ParseWithLength(payload, (size_t)len);
    cJSON *code = cJSON_GetObjectItemCaseSensitive(o, "o");
    if (!cJSON_IsString(code))
        code = cJSON_GetObjectItemCaseSensitive(o, "code");
    char why[160];
    snprintf(why, sizeof why, "stream rejected: %s",
             cJSON_IsString(code) ? code->valuestring : "unknown error");
    cJSON_Delete(o);
    fail_job(why);
}

/* ------------------------------------------------------------------------ */
/* Self-test of a freshly activated image.                                  */

static void self_test(const char *filepath)
{
    char reason[200];
    if (version_cmp(APP_VERSION, pending_old) > 0) {
        /* Keep the state file until the cloud has the verdict: if power is
         * lost first, the next boot repeats the self-test. */
        snprintf(reason, sizeof reason, "accepted v%s", APP_VERSION);
        update_job(pending_job, "SUCCEEDED", "reason", reason, (const char *)NULL);
        st = ST_ACCEPTING;
        deadline_ms = now_ms() + ACK_WAIT_MS;
        return;
    }
    bool same = version_cmp(APP_VERSION, pending_old) == 0;
    LOG("rejected: %s version %s (was %s)", same ? "same" : "older", APP_VERSION, pending_old);
    /* Remove this image first so that whatever happens next, the bootloader
     * falls back to the previous program.  The state file stays until the
     * FAILED update is acknowledged, so an interrupted rejection is redone. */
    if (filepath && filepath[0] && unlink(filepath) == 0)
        LOG("removed image %s", filepath);
    snprintf(reason, sizeof reason, "rejected: version %s is not newer than %s",
             APP_VERSION, pending_old);
    update_job(pending_job, "FAILED", "reason", reason, (const char *)NULL);
    rejected_once = true;
    st = ST_REJECTING;
    deadline_ms = now_ms() + ACK_WAIT_MS;
}

/* ------------------------------------------------------------------------ */
/* Job executions from $next/get/accepted and notify-next.                  */

static void handle_execution(cJSON *exec)
{
    cJSON *jid = cJSON_GetObjectItemCaseSensitive(exec, "jobId");
    const char *id = cJSON_IsString(jid) ? jid->valuestring : NULL;

    /* Rejected this image, lost the acknowledgement, and now the job has
     * moved on: the verdict landed, so finish the reset. */
    if (rejected_once && st == ST_IDLE && (!id || strcmp(id, pending_job) != 0)) {
        drop_state();
        LOG("resetting to the previous image");
        exit(1);
    }

    if (st != ST_IDLE) {
        if (id && strcmp(id, job.id) != 0 && !(pending && strcmp(id, pending_job) == 0))
            LOG("job %s: busy with job %s, ignoring", id, job.id[0] ? job.id : pending_job);
        return;
    }
    if (!id) {
        if (pending) {
            LOG("self-test: job %s is gone, keeping this image (v%s)", pending_job, APP_VERSION);
            drop_state();
        }
        LOG("no job");
        return;
    }
    if (strlen(id) >= sizeof job.id) {
        LOG("job id too long, ignoring");
        return;
    }

    cJSON *status = cJSON_GetObjectItemCaseSensitive(exec, "status");
    const char *stat = cJSON_IsString(status) ? status->valuestring : "";
    struct job j = { .fd = -1 };
    copy_str(j.id, sizeof j.id, id);
    const char *missing = parse_job_doc(exec, &j);

    if (pending) {
        if (strcmp(id, pending_job) == 0 && strcmp(stat, "IN_PROGRESS") == 0) {
            LOG("self-test: job %s, running v%s, updated by v%s", id, APP_VERSION, pending_old);
            copy_str(job.id, sizeof job.id, id);
            self_test(missing ? NULL : j.filepath);
            free(j.sig_b64);
            return;
        }
        LOG("self-test: job %s is gone (next is %s, %s), keeping this image (v%s)",
            pending_job, id, stat, APP_VERSION);
        drop_state();
    }

    job = j;
    if (missing) {
        char why[80];
        snprintf(why, sizeof why, "job document: missing or invalid %s", missing);
        fail_job(why);
        return;
    }
    /* The job says an image was activated, but this boot has no pending
     * self-test: the new image did not take (rolled back).  Like the AWS
     * agents, report it instead of downloading the same image again. */
    cJSON *details = cJSON_GetObjectItemCaseSensitive(exec, "statusDetails");
    if (cJSON_GetObjectItemCaseSensitive(details, "self_test")) {
        char why[120];
        snprintf(why, sizeof why, "rejected: job is in self-test but v%s has no pending image",
                 APP_VERSION);
        job.filepath[0] = '\0'; /* do not delete anything */
        fail_job(why);
        return;
    }
    if (strcmp(stat, "IN_PROGRESS") == 0)
        LOG("job %s: was already in progress, restarting the download", id);
    start_download();
}

/* Answers to our UpdateJobExecution requests. */
static void handle_update_reply(const char *job_id, bool accepted, const char *payload, int len)
{
    cJSON *o = cJSON_ParseWithLength(payload, (size_t)len);
    cJSON *tok = cJSON_GetObjectItemCaseSensitive(o, "clientToken");
    cJSON *code = cJSON_GetObjectItemCaseSensitive(o, "code");
    bool ours = strcmp(job_id, job.id) == 0 &&
                (!cJSON_IsString(tok) || strcmp(tok->valuestring, await_token) == 0);
    char codebuf[64];
    copy_str(codebuf, sizeof codebuf, cJSON_IsString(code) ? code->valuestring : "?");
    cJSON_Delete(o);
    if (!accepted)
        LOG("job %s: update rejected: %s", job_id, codebuf);
    if (!ours)
        return;

    switch (st) {
    case ST_ACTIVATING:
        if (accepted) {
            LOG("activating new image");
            mosquitto_disconnect(mosq);
            exit(0);
        }
        /* The cloud refused (e.g. the job was cancelled): do not activate. */
        unlink(job.filepath);
        drop_state();
        job_clear();
        st = ST_IDLE;
        break;
    case ST_ACCEPTING:
        drop_state();
        if (accepted)
            LOG("self-test: accepted v%s", APP_VERSION);
        job_clear();
        st = ST_IDLE;
        break;
    case ST_REJECTING:
        drop_state();
        LOG("resetting to the previous image");
        mosquitto_disconnect(mosq);
        exit(1);
    default:
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* libmosquitto callbacks.                                                  */

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
    (void)ud;
    if (rc != 0) {
        LOG("mqtt connect refused: %s", mosquitto_connack_string(rc));
        return;
    }
    static const char *suffixes[] = {
        "jobs/notify-next",        "jobs/$next/get/accepted",  "jobs/$next/get/rejected",
        "jobs/+/update/accepted",  "jobs/+/update/rejected",   "streams/+/data/json",
        "streams/+/rejected/json",
    };
    enum { NSUB = sizeof suffixes / sizeof suffixes[0] };
    char bufs[NSUB][512];
    char *subs[NSUB];
    for (int i = 0; i < NSUB; i++) {
        snprintf(bufs[i], sizeof bufs[i], "%s%s", topic_prefix, suffixes[i]);
        subs[i] = bufs[i];
    }
    rc = mosquitto_subscribe_multiple(m, NULL, NSUB, subs, 1, 0, NULL);
    if (rc != MOSQ_ERR_SUCCESS)
        LOG("subscribe failed: %s", mosquitto_strerror(rc));
    /* A verdict whose acknowledgement was lost is redone from the job state. */
    if (st == ST_ACCEPTING || st == ST_REJECTING)
        st = ST_IDLE;
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
    (void)m, (void)ud, (void)mid;
    for (int i = 0; i < n; i++)
        if (granted[i] > 2)
            LOG("subscription %d refused by the broker", i);
    LOG("mqtt up");
    request_next_job();
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
    (void)m, (void)ud;
    if (rc != 0)
        LOG("mqtt down: %s", mosquitto_strerror(rc));
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    (void)m, (void)ud;
    size_t plen = strlen(topic_prefix);
    if (strncmp(msg->topic, topic_prefix, plen) != 0)
        return;
    const char *t = msg->topic + plen;
    const char *payload = msg->payload ? (const char *)msg->payload : "";

    if (strcmp(t, "jobs/notify-next") == 0 || strcmp(t, "jobs/$next/get/accepted") == 0) {
        cJSON *o = cJSON_ParseWithLength(payload, (size_t)msg->payloadlen);
        if (!o) {
            LOG("unparsable message on %s", msg->topic);
            return;
        }
        cJSON *exec = cJSON_GetObjectItemCaseSensitive(o, "execution");
        handle_execution(cJSON_IsObject(exec) ? exec : NULL);
        cJSON_Delete(o);
    } else if (strcmp(t, "jobs/$next/get/rejected") == 0) {
        LOG("$next/get rejected: %.*s", msg->payloadlen, payload);
    } else if (strncmp(t, "jobs/", 5) == 0) {
        /* jobs/<jobId>/update/accepted|rejected */
        const char *id = t + 5, *slash = strchr(id, '/');
        if (!slash || (size_t)(slash - id) >= sizeof job.id)
            return;
        char jid[sizeof job.id];
        memcpy(jid, id, (size_t)(slash - id));
        jid[slash - id] = '\0';
        if (strcmp(slash, "/update/accepted") == 0)
            handle_update_reply(jid, true, payload, msg->payloadlen);
        else if (strcmp(slash, "/update/rejected") == 0)
            handle_update_reply(jid, false, payload, msg->payloadlen);
    } else if (strncmp(t, "streams/", 8) == 0) {
        /* streams/<streamId>/data/json | streams/<streamId>/rejected/json */
        const char *sid = t + 8, *slash = strchr(sid, '/');
        if (!slash || (size_t)(slash - sid) >= sizeof job.stream)
            return;
        char stream[sizeof job.stream];
        memcpy(stream, sid, (size_t)(slash - sid));
        stream[slash - sid] = '\0';
        if (strcmp(slash, "/data/json") == 0)
            handle_block(stream, payload, msg->payloadlen);
        else if (strcmp(slash, "/rejected/json") == 0)
            handle_stream_rejected(stream, payload, msg->payloadlen);
    }
}

/* ------------------------------------------------------------------------ */
/* Timers, driven from the main loop.                                       */

static void tick(void)
{
    int64_t now = now_ms();
    switch (st) {
    case ST_DOWNLOADING:
        if (now - last_rx_ms < RETRY_MS)
            break;
        if (++job.retries > MAX_RETRIES) {
            fail_job("download timed out");
            break;
        }
        LOG("job %s: no data for %d ms, re-requesting (retry %d/%d, %ld/%ld blocks)", job.id,
            RETRY_MS, job.retries, MAX_RETRIES, job.received, job.nblocks);
        request_blocks();
        break;
    case ST_ACTIVATING:
        if (now >= deadline_ms) {
            LOG("activating new image");
            mosquitto_disconnect(mosq);
            exit(0);
        }
        break;
    case ST_REJECTING:
        /* No acknowledgement: reset anyway.  The state file is kept, so the
         * fallback image repeats the self-test verdict on its next boot. */
        if (now >= deadline_ms) {
            LOG("resetting to the previous image (verdict not acknowledged)");
            exit(1);
        }
        break;
    case ST_ACCEPTING:
        if (now >= deadline_ms) {
            LOG("self-test: verdict not acknowledged yet, asking for the job again");
            st = ST_IDLE;
            request_next_job();
        }
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------------ */

static const char *need_env(const char *name, bool required)
{
    const char *v = getenv(name);
    if ((!v || !*v) && required) {
        LOG("config error: environment variable %s is not set", name);
        exit(2);
    }
    return v && *v ? v : NULL;
}

static void need_file(const char *what, const char *path)
{
    if (access(path, R_OK) != 0) {
        LOG("config error: %s %s is not readable: %s", what, path, strerror(errno));
        exit(2);
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    setvbuf(stderr, NULL, _IOLBF, 0);

    cfg.thing = getenv("OTARIG_THING_NAME");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--thing") == 0 && i + 1 < argc) {
            cfg.thing = argv[++i];
        } else if (strncmp(argv[i], "--thing=", 8) == 0) {
            cfg.thing = argv[i] + 8;
        } else {
            LOG("usage: %s [--thing NAME]  (unknown argument %s)", argv[0], argv[i]);
            return 2;
        }
    }
    if (!cfg.thing || !*cfg.thing) {
        LOG("config error: no thing name (set OTARIG_THING_NAME or pass --thing NAME)");
        return 2;
    }
    LOG("boot v%s (thing %s)", APP_VERSION, cfg.thing);

    const char *tls = need_env("OTARIG_TLS", false);
    cfg.tls = !tls || strcmp(tls, "0") != 0;
    cfg.host = need_env("OTARIG_ENDPOINT", true);
    const char *port = need_env("OTARIG_PORT", true);
    char *end;
    long p = strtol(port, &end, 10);
    if (*end || p < 1 || p > 65535) {
        LOG("config error: OTARIG_PORT=%s is not a port number", port);
        return 2;
    }
    cfg.port = (int)p;
    cfg.codesign = need_env("OTARIG_CODESIGN_CERT", true);
    need_file("code-signing certificate", cfg.codesign);
    if (cfg.tls) {
        cfg.root_ca = need_env("OTARIG_ROOT_CA", true);
        cfg.client_cert = need_env("OTARIG_CLIENT_CERT", true);
        cfg.client_key = need_env("OTARIG_CLIENT_KEY", true);
        need_file("root CA", cfg.root_ca);
        need_file("client certificate", cfg.client_cert);
        need_file("client key", cfg.client_key);
    }
    if (strlen(cfg.thing) > 128) {
        LOG("config error: thing name longer than 128 characters");
        return 2;
    }
    snprintf(topic_prefix, sizeof topic_prefix, "$aws/things/%s/", cfg.thing);

    load_state();

    mosquitto_lib_init();
    mosq = mosquitto_new(cfg.thing, true, NULL); /* client id = thing, clean session */
    if (!mosq) {
        LOG("fatal: mosquitto_new failed");
        return 3;
    }
    mosquitto_connect_callback_set(mosq, on_connect);
    mosquitto_subscribe_callback_set(mosq, on_subscribe);
    mosquitto_disconnect_callback_set(mosq, on_disconnect);
    mosquitto_message_callback_set(mosq, on_message);
    if (cfg.tls) {
        int rc = mosquitto_tls_set(mosq, cfg.root_ca, NULL, cfg.client_cert, cfg.client_key, NULL);
        if (rc != MOSQ_ERR_SUCCESS) {
            LOG("config error: TLS setup failed: %s", mosquitto_strerror(rc));
            return 2;
        }
    }

    LOG("connecting to %s:%d (%s)", cfg.host, cfg.port, cfg.tls ? "TLS" : "plain TCP");
    int rc;
    while ((rc = mosquitto_connect(mosq, cfg.host, cfg.port, KEEPALIVE_S)) != MOSQ_ERR_SUCCESS) {
        LOG("mqtt connect failed: %s, retrying in 2 s",
            rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        sleep(2);
    }

    /* Main loop: network I/O with a 100 ms timeout, then the timers. */
    for (;;) {
        rc = mosquitto_loop(mosq, 100, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            LOG("mqtt connection lost (%s), reconnecting",
                rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
            sleep(1);
            mosquitto_reconnect(mosq);
        }
        tick();
    }
}
