/* mesos-hyper guest init (PID 1): the "hyperstart" of this project.
 * Protocol: vmctl/guest/protocol.py. Everything read from the host is bounded. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/fs.h>
#include <linux/random.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef EXT4_IOC_RESIZE_FS
#define EXT4_IOC_RESIZE_FS _IOW('f', 16, uint64_t)
#endif

#define MAX_RECORD (1u << 20)
#define MAX_TOTAL (8u << 20)
#define MAX_ITEMS 4096
#define ROOT "/rootfs"

static int status_fd = -1;

static void say(const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
    buf[n++] = '\n';
    int con = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (con >= 0) { (void)!write(con, "mh-init: ", 9); (void)!write(con, buf, n); close(con); }
}

static void status(const char *fmt, ...) {
    char buf[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || status_fd < 0) return;
    if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
    for (int i = 0; i < n; i++) if (buf[i] == '\n') buf[i] = ' ';
    buf[n++] = '\n';
    for (int off = 0; off < n;) {
        ssize_t w = write(status_fd, buf + off, n - off);
        if (w < 0) { if (errno == EINTR) continue; return; }
        off += w;
    }
}

static void power_off(void) {
    sync();
    kill(-1, SIGKILL);
    sync();
    reboot(RB_POWER_OFF);
    for (;;) pause();
}

static void fatal(const char *what) {
    int e = errno;
    say("%s: %s", what, strerror(e));
    status("ERROR %s: %s", what, strerror(e));
    power_off();
}

static void mount_or_die(const char *src, const char *dst, const char *type, unsigned long flags,
                         const char *data) {
    mkdir(dst, 0755);
    if (mount(src, dst, type, flags, data) < 0) {
        char what[4400];
        snprintf(what, sizeof what, "mount %s on %s", type, dst);
        fatal(what);
    }
}

static void load_modules(void) {
    FILE *f = fopen("/lib/modules/load.order", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        int fd = open(line, O_RDONLY | O_CLOEXEC);
        if (fd < 0) { say("module %s: %s", line, strerror(errno)); continue; }
        if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
            say("load %s: %s", line, strerror(errno));
        close(fd);
    }
    fclose(f);
}

static int cmdline_has(const char *word) {
    char buf[4096];
    int fd = open("/proc/cmdline", O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    size_t len = strlen(word);
    for (char *p = buf; (p = strstr(p, word)); p += len)
        if ((p == buf || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\n' || p[len] == 0)) return 1;
    return 0;
}

/* Waits (boundedly) for the entry of sysfs directory `dir` whose file `attr` holds `value`
 * (after `skip` header bytes) and writes "/dev/<entry>" to `dev`: how we find our virtio
 * ports (by name) and our disks (by serial), whatever order the devices came in. */
static int find_entry(const char *dir, const char *attr, size_t skip, const char *value,
                      char *dev, size_t len) {
    for (int tries = 0; tries < 1000; tries++) {
        DIR *d = opendir(dir);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (e->d_name[0] == '.') continue;
                char path[600], got[128] = {0};
                snprintf(path, sizeof path, "%s/%s/%s", dir, e->d_name, attr);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0) continue;
                ssize_t n = read(fd, got, sizeof got - 1);
                close(fd);
                if (n <= (ssize_t)skip) continue;
                got[strcspn(got + skip, "\n") + skip] = 0;
                if (strcmp(got + skip, value) != 0) continue;
                snprintf(dev, len, "/dev/%s", e->d_name);
                closedir(d);
                return 0;
            }
            closedir(d);
        }
        usleep(10000);
    }
    errno = ENODEV;
    return -1;
}

/* A disk by its serial: SCSI VPD page 0x80, a 4-byte header and then the serial. The
 * entry (its SCSI device's attributes) appears before the disk can be opened (ENXIO until
 * the kernel has added it), so we also wait, boundedly, for an open to work. */
static int find_disk(const char *serial, char *dev, size_t len) {
    if (find_entry("/sys/block", "device/vpd_pg80", 4, serial, dev, len) < 0) return -1;
    for (int tries = 0; tries < 1000; tries++) {
        int fd = open(dev, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) { close(fd); return 0; }
        if (errno != ENXIO && errno != ENOENT) return -1;
        usleep(10000);
    }
    return -1;
}

static int open_port(const char *name, int flags) {
    char dev[300];
    if (find_entry("/sys/class/virtio-ports", "name", 0, name, dev, sizeof dev) < 0) return -1;
    return open(dev, flags | O_CLOEXEC | O_NOCTTY);
}

static int read_full(int fd, void *buf, size_t len) {
    size_t off = 0;
    while (off < len) {
        ssize_t n = read(fd, (char *)buf + off, len - off);
        if (n < 0) { if (errno == EINTR) continue; return -1; }
        if (n == 0) { errno = EPIPE; return -1; }
        off += n;
    }
    return 0;
}

/* A pre-booted pool VM waits, paused, with no host on its ports: the pool closed them once
 * it saw READY, and the claimant connects before it resumes us. Until the first byte of
 * the first record, an end of file on the control port means "no host yet", not "host
 * gone" (a virtio port reads 0 while its host is away). */
static int waiting_for_host = 1;

/* One control record; payload NUL-terminated, caller frees. */
static int read_record(int fd, char *tag, char **payload, uint32_t *len) {
    unsigned char hdr[5];
    size_t got = 0;
    while (waiting_for_host) {
        ssize_t n = read(fd, hdr, sizeof hdr);
        if (n > 0) { got = (size_t)n; waiting_for_host = 0; }
        else if (n == 0 || errno == EINTR || errno == EAGAIN) usleep(5000);
        else return -1;
    }
    if (read_full(fd, hdr + got, sizeof hdr - got) < 0) return -1;
    uint32_t n = hdr[1] | hdr[2] << 8 | hdr[3] << 16 | (uint32_t)hdr[4] << 24;
    if (n > MAX_RECORD) { errno = EMSGSIZE; return -1; }
    char *p = malloc(n + 1);
    if (!p) return -1;
    if (read_full(fd, p, n) < 0) { free(p); return -1; }
    p[n] = 0;
    *tag = (char)hdr[0];
    *payload = p;
    *len = n;
    return 0;
}

struct spec {
    char *argv[MAX_ITEMS + 1];
    int argc;
    char *env[MAX_ITEMS + 1];
    int envc;
    char *workdir, *hostname;
    char *mounts[16];
    int nmounts;
    char *files[4];  /* "path\ncontent" for /etc/hosts, /etc/resolv.conf, /etc/hostname */
    int nfiles;
    char *net;       /* "ADDR/PREFIX GATEWAY MAC" (pod-wide, applied once) */
    long long mem_max;   /* bytes for the container's memory cgroup, 0 = no limit */
    int disk_enforce;    /* kill the container when its rootfs is full */
    struct timespec clock;  /* the host's time when it sent the spec (0: none) */
    unsigned char seed[32]; /* host entropy for the RNG (a template's clones share its state) */
    int has_seed;
    uid_t uid;
    gid_t gid;
    gid_t groups[64];
    int ngroups;
};

static long parse_id(const char *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *s == 0 || *end || v < 0 || v > 0x7fffffffL) return -1;
    return v;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Mix the host's entropy in, credited, and reseed the CRNG from it at once: a VM restored
 * from a template woke with the template's RNG state, which every clone shares. */
static void reseed(const unsigned char *seed, size_t n) {
    struct { int entropy_count; int buf_size; unsigned char buf[32]; } info;
    if (n > sizeof info.buf) { errno = EINVAL; fatal("seed"); }
    info.entropy_count = (int)(8 * n);
    info.buf_size = (int)n;
    memcpy(info.buf, seed, n);
    int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
    if (fd < 0) fatal("open /dev/urandom");
    if (ioctl(fd, RNDADDENTROPY, &info) < 0) fatal("RNDADDENTROPY");
    if (ioctl(fd, RNDRESEEDCRNG) < 0) fatal("RNDRESEEDCRNG");
    close(fd);
    memset(&info, 0, sizeof info);
}

static void mount_pool_share(void);

static void read_spec(int fd, struct spec *sp) {
    size_t total = 0;
    memset(sp, 0, sizeof *sp);
    for (;;) {
        char tag, *p;
        uint32_t n;
        if (read_record(fd, &tag, &p, &n) < 0) fatal("read spec");
        total += n + 5;
        if (total > MAX_TOTAL) { errno = EMSGSIZE; fatal("spec too large"); }
        if (memchr(p, 0, n)) { errno = EINVAL; fatal("spec record holds a NUL byte"); }
        long id;
        switch (tag) {
        case 'A': if (sp->argc >= MAX_ITEMS) { errno = E2BIG; fatal("argv"); } sp->argv[sp->argc++] = p; break;
        case 'E': if (sp->envc >= MAX_ITEMS) { errno = E2BIG; fatal("env"); } sp->env[sp->envc++] = p; break;
        case 'W': free(sp->workdir); sp->workdir = p; break;
        case 'H': free(sp->hostname); sp->hostname = p; break;
        case 'U': if ((id = parse_id(p)) < 0) { errno = EINVAL; fatal("uid"); } sp->uid = id; free(p); break;
        case 'G': if ((id = parse_id(p)) < 0) { errno = EINVAL; fatal("gid"); } sp->gid = id; free(p); break;
        case 'S':
            if ((id = parse_id(p)) < 0 || sp->ngroups >= 64) { errno = EINVAL; fatal("groups"); }
            sp->groups[sp->ngroups++] = id; free(p); break;
        case 'M':
            if (sp->nmounts >= 16 || !strchr(p, ':') || strchr(p, ':')[1] != '/') { errno = EINVAL; fatal("mount spec"); }
            sp->mounts[sp->nmounts++] = p; break;
        case 'F':
            if (sp->nfiles >= 4 || !strchr(p, '\n')) { errno = EINVAL; fatal("file spec"); }
            sp->files[sp->nfiles++] = p; break;
        case 'N': free(sp->net); sp->net = p; break;
        case 'T': {
            /* the host's time: a pool VM's clock stood still while it waited paused */
            char *end; errno = 0;
            long long sec = strtoll(p, &end, 10), usec = 0;
            if (!errno && *end == '.') usec = strtoll(end + 1, &end, 10);
            if (errno || *end || sec < 0 || usec < 0 || usec > 999999) { errno = EINVAL; fatal("clock"); }
            sp->clock.tv_sec = sec;
            sp->clock.tv_nsec = usec * 1000;
            free(p); break;
        }
        case 'R':
            if (strlen(p) != 2 * sizeof sp->seed) { errno = EINVAL; fatal("seed"); }
            for (size_t i = 0; i < sizeof sp->seed; i++) {
                int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);
                if (hi < 0 || lo < 0) { errno = EINVAL; fatal("seed"); }
                sp->seed[i] = (unsigned char)(hi << 4 | lo);
            }
            sp->has_seed = 1;
            free(p); break;
        case 'L':
            if (strncmp(p, "memory ", 7) == 0) {
                char *end; errno = 0;
                sp->mem_max = strtoll(p + 7, &end, 10);
                if (errno || *end || sp->mem_max < (1 << 20)) { errno = EINVAL; fatal("memory limit"); }
            } else if (strcmp(p, "disk") == 0) sp->disk_enforce = 1;
            else { errno = EINVAL; fatal("limit spec"); }
            free(p); break;
        case 'P': free(p); mount_pool_share(); status("SHARED"); break;
        case 'Z': free(p); goto done;
        default: errno = EINVAL; fatal("unknown spec record");
        }
    }
done:
    if (sp->argc == 0) { errno = EINVAL; fatal("spec has no argv"); }
    if (!sp->workdir || sp->workdir[0] != '/') { errno = EINVAL; fatal("workdir"); }
}

static void grow_rootfs(const char *device, const char *root) {
    int dev = open(device, O_RDONLY | O_CLOEXEC);
    if (dev < 0) return;
    uint64_t bytes = 0;
    if (ioctl(dev, BLKGETSIZE64, &bytes) < 0) bytes = 0;
    close(dev);
    int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0 || bytes == 0) { if (dir >= 0) close(dir); return; }
    /* blocks of the fs: statfs gives f_bsize; resize takes a count of fs blocks */
    struct stat st;
    if (fstat(dir, &st) == 0 && st.st_blksize > 0) {
        uint64_t blocks = bytes / (uint64_t)st.st_blksize;
        if (ioctl(dir, EXT4_IOC_RESIZE_FS, &blocks) < 0 && errno != EINVAL)
            say("grow rootfs: %s", strerror(errno));
    }
    close(dir);
}

static void mkdir_p(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') { *p = 0; mkdir(buf, 0755); *p = '/'; }
    mkdir(buf, 0755);
}

static int has_dotdot(const char *path) {
    for (const char *p = path; (p = strstr(p, "..")); p += 2)
        if ((p == path || p[-1] == '/') && (p[2] == '/' || p[2] == 0)) return 1;
    return 0;
}

/* Where a pool VM mounts the share it boots with ("mh.pool_share" on its command line). */
#define POOL_SHARE "/pool-share"

/* At boot (the device is there), or on the host's P record in a template's clone, whose
 * share was hot-plugged after its restore: then the guest may still be handling the
 * device's ACPI hot-plug (most of a second under TCG), so the mount is retried. */
static void mount_pool_share(void) {
    static int mounted;
    if (mounted) { errno = EBUSY; fatal("pool share mounted twice"); }
    mkdir(POOL_SHARE, 0755);
    for (int tries = 0; mount("mh.pool", POOL_SHARE, "virtiofs", MS_NOSUID | MS_NODEV, NULL) < 0; tries++) {
        if (tries >= 1500) fatal("mount pool share");
        usleep(20000);
    }
    mounted = 1;
}

static void mount_in(const char *root, const char *src, const char *dst, const char *type,
                     unsigned long flags, const char *data) {
    char path[4096];
    snprintf(path, sizeof path, "%s%s", root, dst);
    mount_or_die(src, path, type, flags, data);
}

static void write_files(const struct spec *sp, const char *root);

/* Mounts a container's rootfs from `device` at `root`, with its API filesystems and shares. */
static void setup_rootfs(const struct spec *sp, const char *device, const char *root) {
    mkdir(root, 0755);
    if (mount(device, root, "ext4", 0, NULL) < 0) fatal("mount rootfs");
    grow_rootfs(device, root);
    mount_in(root, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_in(root, "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_in(root, "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, NULL);
    mount_in(root, "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666");
    mount_in(root, "shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_in(root, "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    for (int i = 0; i < sp->nmounts; i++) {
        char *colon = strchr(sp->mounts[i], ':');
        *colon = 0;
        char target[4096];
        snprintf(target, sizeof target, "%s%s", root, colon + 1);
        if (has_dotdot(colon + 1)) { errno = EINVAL; fatal("mount target"); }
        mkdir_p(target);
        if (sp->mounts[i][0] == '@') {
            /* a directory of the share a pool VM booted with (its host side bound the
             * pod's directory there at claim time): bind it, no device to wait for */
            const char *name = sp->mounts[i] + 1;
            if (!name[0] || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
                errno = EINVAL;
                fatal("bound share name");
            }
            char source[300];
            snprintf(source, sizeof source, POOL_SHARE "/%s", name);
            if (mount(source, target, NULL, MS_BIND, NULL) < 0) fatal("bind share");
            continue;
        }
        /* a share hot-plugged into a pool VM appears once the guest has probed it */
        int tries = 0;
        while (mount(sp->mounts[i], target, "virtiofs", MS_NOSUID | MS_NODEV, NULL) < 0) {
            if ((errno != ENOENT && errno != ENODEV && errno != EINVAL) || ++tries > 1000)
                fatal("mount virtiofs share");
            usleep(10000);
        }
    }
    write_files(sp, root);
}

/* The files the host manages in every rootfs (Docker bind-mounts the same three). The image
 * may hold a symlink or anything else there: it is replaced, never followed. */
static void write_files(const struct spec *sp, const char *root) {
    char etc[4200];
    snprintf(etc, sizeof etc, "%s/etc", root);
    mkdir(etc, 0755);
    int dir = open(etc, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0) { say("%s is not a directory: files not written", etc); return; }
    for (int i = 0; i < sp->nfiles; i++) {
        char *nl = strchr(sp->files[i], '\n');
        *nl = 0;
        const char *path = sp->files[i], *body = nl + 1;
        const char *name = NULL;
        if (strcmp(path, "/etc/hosts") == 0) name = "hosts";
        else if (strcmp(path, "/etc/resolv.conf") == 0) name = "resolv.conf";
        else if (strcmp(path, "/etc/hostname") == 0) name = "hostname";
        if (!name) { errno = EINVAL; fatal("file path"); }
        unlinkat(dir, name, 0);
        int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0) { say("write %s: %s", path, strerror(errno)); *nl = '\n'; continue; }
        size_t len = strlen(body);
        if (write(fd, body, len) != (ssize_t)len) say("write %s: %s", path, strerror(errno));
        close(fd);
        *nl = '\n';
    }
    close(dir);
}

static int ifreq_ioctl(int sock, unsigned long req, const char *ifname, struct ifreq *ifr) {
    snprintf(ifr->ifr_name, IFNAMSIZ, "%s", ifname);
    return ioctl(sock, req, ifr);
}

static void set_ipv4(struct sockaddr *sa, in_addr_t addr) {
    struct sockaddr_in *in = (struct sockaddr_in *)sa;
    memset(in, 0, sizeof *in);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = addr;
}

/* The pod's one NIC (whatever the kernel named it) gets the pod's MAC, ADDR/PREFIX and a
 * default route. The MAC is set here because a pool VM booted with a NIC of its own MAC
 * before anyone knew which pod it would serve (the host's rules match the pod's MAC). */
static void configure_network(const char *net) {
    char addr_s[32], gw_s[32];
    unsigned int mac[6];
    int prefix;
    struct in_addr addr, gw;
    if (sscanf(net, "%31[0-9.]/%d %31[0-9.] %2x:%2x:%2x:%2x:%2x:%2x", addr_s, &prefix, gw_s,
               &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 9 || prefix < 1 ||
        prefix > 30 || inet_pton(AF_INET, addr_s, &addr) != 1 || inet_pton(AF_INET, gw_s, &gw) != 1) {
        errno = EINVAL;
        fatal("network spec");
    }
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) fatal("socket");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    if (ifreq_ioctl(sock, SIOCGIFFLAGS, "lo", &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP;
        ifreq_ioctl(sock, SIOCSIFFLAGS, "lo", &ifr);
    }
    char nic[IFNAMSIZ] = {0};
    for (int tries = 0; tries < 1000 && !nic[0]; tries++) {
        DIR *d = opendir("/sys/class/net");
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (e->d_name[0] != '.' && strcmp(e->d_name, "lo") != 0 && strlen(e->d_name) < IFNAMSIZ) {
                memcpy(nic, e->d_name, strlen(e->d_name) + 1);
                break;
            }
        if (d) closedir(d);
        if (!nic[0]) usleep(10000);
    }
    if (!nic[0]) { errno = ENODEV; fatal("no network interface"); }
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    for (int i = 0; i < 6; i++) ifr.ifr_hwaddr.sa_data[i] = (char)mac[i];
    if (ifreq_ioctl(sock, SIOCSIFHWADDR, nic, &ifr) < 0) fatal("set MAC");
    memset(&ifr, 0, sizeof ifr);
    set_ipv4(&ifr.ifr_addr, addr.s_addr);
    if (ifreq_ioctl(sock, SIOCSIFADDR, nic, &ifr) < 0) fatal("set address");
    memset(&ifr, 0, sizeof ifr);
    set_ipv4(&ifr.ifr_netmask, htonl(0xffffffffu << (32 - prefix)));
    if (ifreq_ioctl(sock, SIOCSIFNETMASK, nic, &ifr) < 0) fatal("set netmask");
    memset(&ifr, 0, sizeof ifr);
    if (ifreq_ioctl(sock, SIOCGIFFLAGS, nic, &ifr) < 0) fatal("get flags");
    ifr.ifr_flags |= IFF_UP;
    if (ifreq_ioctl(sock, SIOCSIFFLAGS, nic, &ifr) < 0) fatal("link up");
    struct rtentry rt;
    memset(&rt, 0, sizeof rt);
    set_ipv4(&rt.rt_dst, INADDR_ANY);
    set_ipv4(&rt.rt_genmask, INADDR_ANY);
    set_ipv4(&rt.rt_gateway, gw.s_addr);
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    if (ioctl(sock, SIOCADDRT, &rt) < 0 && errno != EEXIST) fatal("default route");
    close(sock);
}

/* Memory: one cgroup v2 per container, so a task is held to its own mem and an OOM kill is
 * told apart from any other SIGKILL. */
#define CGROOT "/sys/fs/cgroup"
static int have_cgroups;

static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return;
    if (write(fd, text, strlen(text)) < 0) say("write %s: %s", path, strerror(errno));
    close(fd);
}

static void setup_cgroups(void) {
    mkdir(CGROOT, 0755);
    if (mount("cgroup2", CGROOT, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
        say("no cgroup2: %s", strerror(errno));
        return;
    }
    write_file(CGROOT "/cgroup.subtree_control", "+memory");
    have_cgroups = 1;
}

static void cgroup_path(char *buf, size_t len, int idx, const char *file) {
    snprintf(buf, len, CGROOT "/c%d%s%s", idx, file ? "/" : "", file ? file : "");
}

static void make_cgroup(int idx, long long mem_max) {
    if (!have_cgroups) return;
    char path[128], num[32];
    cgroup_path(path, sizeof path, idx, NULL);
    mkdir(path, 0755);
    cgroup_path(path, sizeof path, idx, "memory.oom.group");
    write_file(path, "1");
    if (mem_max > 0) {
        snprintf(num, sizeof num, "%lld", mem_max);
        cgroup_path(path, sizeof path, idx, "memory.max");
        write_file(path, num);
        cgroup_path(path, sizeof path, idx, "memory.swap.max");
        write_file(path, "0");
    }
}

/* vCPUs the host hot-plugged into a growing pod arrive offline: bring them up. Cheap when
 * there is nothing to do (two small reads), so the main loop calls it on every turn. */
static void online_cpus(void) {
    char present[64] = "", online[64] = "";
    int fd = open("/sys/devices/system/cpu/present", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) { (void)!read(fd, present, sizeof present - 1); close(fd); }
    fd = open("/sys/devices/system/cpu/online", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) { (void)!read(fd, online, sizeof online - 1); close(fd); }
    if (strcmp(present, online) == 0) return;
    DIR *d = opendir("/sys/devices/system/cpu");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], state = '1';
        if (strncmp(e->d_name, "cpu", 3) != 0 || e->d_name[3] < '0' || e->d_name[3] > '9') continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/%s/online", e->d_name);
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) continue;  /* cpu0 has no switch */
        if (read(fd, &state, 1) == 1 && state == '0' && pwrite(fd, "1", 1, 0) != 1)
            say("online %s: %s", e->d_name, strerror(errno));
        close(fd);
    }
    if (d) closedir(d);
}

static long read_counter(const char *path, const char *key) {
    char buf[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    size_t klen = strlen(key);
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ') return atol(line + klen + 1);
    return 0;
}

static int oom_killed(int idx) {
    char path[128];
    cgroup_path(path, sizeof path, idx, "memory.events");
    return read_counter(path, "oom_kill") > 0 || read_counter(path, "oom_group_kill") > 0;
}

/* Disk: the rootfs is as large as the disk resource; a container that fills it is killed,
 * as Mesos' disk isolator kills a container over its quota. */
#define DISK_FULL_BYTES (256u << 10)
static int disk_full(const char *root) {
    struct statfs st;
    if (statfs(root, &st) < 0) return 0;
    return (unsigned long long)st.f_bavail * (unsigned long long)st.f_bsize < DISK_FULL_BYTES;
}

/* Container 0 keeps the single-container format; pod members carry their index. */
static void report(const char *what, int idx, int value) {
    if (idx == 0) status("%s %d", what, value);
    else status("%s %d %d", what, value, idx);
}

/* "LIMIT <resource> [k]": the container broke its limit; its EXIT follows. */
static void report_limit(const char *resource, int idx) {
    if (idx == 0) status("LIMIT %s", resource);
    else status("LIMIT %s %d", resource, idx);
}

/* A container's process, forked and set up (cgroup, chroot, workdir, ids) but held before
 * its exec until released: the set-up is the pod's cost, the exec the task's. */
struct child {
    pid_t pid;
    int err_r;  /* the child's error message, or EOF once its exec succeeded */
    int go_w;   /* one byte releases it into its exec; EOF makes it exit unexec'd */
};

/* in_fd < 0: stdin is /dev/null. */
static int fork_child(const struct spec *sp, int in_fd, int out_fd, int err_fd, const char *root, int cg,
                      struct child *c) {
    int errp[2], gop[2];
    if (pipe2(errp, O_CLOEXEC) < 0 || pipe2(gop, O_CLOEXEC) < 0) fatal("pipe");
    pid_t pid = fork();
    if (pid < 0) fatal("fork");
    if (pid == 0) {
        close(errp[0]);
        close(gop[1]);
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        signal(SIGPIPE, SIG_DFL);  /* we ignore it; an exec'd program gets the default */
        setsid();
        if (have_cgroups) {
            char procs[128];
            cgroup_path(procs, sizeof procs, cg, "cgroup.procs");
            write_file(procs, "0");
        }
        int nul = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY);
        dup2(nul, 0);
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        const char *stage = "chroot";
        int e;
        char go;
        if (chroot(root) < 0 || chdir("/") < 0) goto fail;
        stage = "workdir";
        mkdir_p(sp->workdir);
        if (chdir(sp->workdir) < 0) goto fail;
        stage = "setgroups";
        if (setgroups(sp->ngroups, sp->groups) < 0) goto fail;
        stage = "setgid";
        if (setgid(sp->gid) < 0) goto fail;
        stage = "setuid";
        if (setuid(sp->uid) < 0) goto fail;
        if (read(gop[0], &go, 1) != 1) _exit(125);  /* never released: the pod is ending */
        stage = "exec";
        environ = (char **)sp->env;
        execvp(sp->argv[0], sp->argv);
    fail:
        e = errno;
        char msg[512];
        int n = snprintf(msg, sizeof msg, "%d %s %s: %s", e, stage, stage[0] == 'e' ? sp->argv[0] : sp->workdir, strerror(e));
        (void)!write(errp[1], msg, n > 0 ? (size_t)n : 0);
        _exit(127);
    }
    close(errp[1]);
    close(gop[0]);
    *c = (struct child){pid, errp[0], gop[1]};
    return 0;
}

/* Lets a forked child exec; its pid once the exec succeeded, else -1 with the error and
 * its EXIT reported. */
static pid_t release_child(struct child *c, int idx) {
    (void)!write(c->go_w, "g", 1);  /* EPIPE if its set-up failed: the message says why */
    close(c->go_w);
    char msg[512];
    ssize_t n = read(c->err_r, msg, sizeof msg - 1);
    close(c->err_r);
    if (n > 0) {
        msg[n] = 0;
        int e = atoi(msg);
        char *text = strchr(msg, ' ');
        text = text ? text + 1 : msg;
        status("ERROR %s", text);
        waitpid(c->pid, NULL, 0);
        /* Docker: 127 when the command is not found, 126 when it cannot be run. */
        report("EXIT", idx, (strncmp(text, "exec", 4) == 0 && e == ENOENT) ? 127 : 126);
        return -1;
    }
    return c->pid;
}

static pid_t spawn(const struct spec *sp, int in_fd, int out_fd, int err_fd, const char *root, int idx,
                   int cg) {
    struct child c;
    fork_child(sp, in_fd, out_fd, err_fd, root, cg, &c);
    return release_child(&c, idx);
}

#define MAX_CONTAINERS 16

/* How long we wait, after DRAINED, for the host to end us (protocol.DRAINED_WAIT_S). */
#define DRAINED_WAIT_S 2

/* "SENT <bytes> <port>" for each output port, then "DRAINED". Every task is dead, so all
 * it wrote is in the ports' queues, and the virtio console counts it (its debugfs). Once
 * the host has read that much from each port it has all the output and ends the VM
 * itself, sooner than our power-off would, which libvirt follows with a 200 ms poll.
 * Without debugfs there is no DRAINED, and the host waits for the power-off. */
static int report_drained(void) {
    static const char dir[] = "/sys/kernel/debug/virtio-ports";
    if (mount("debugfs", "/sys/kernel/debug", "debugfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0
        && errno != EBUSY) return 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[320], buf[512], name[64];
        unsigned long sent;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0) continue;
        buf[n] = 0;
        char *at_name = strstr(buf, "name: "), *at_sent = strstr(buf, "bytes_sent: ");
        if (!at_name || !at_sent || sscanf(at_name, "name: %63s", name) != 1
            || sscanf(at_sent, "bytes_sent: %lu", &sent) != 1) continue;
        size_t len = strlen(name);
        if (strncmp(name, "mh.", 3) != 0 || len < 8
            || (strcmp(name + len - 7, ".stdout") != 0 && strcmp(name + len - 7, ".stderr") != 0))
            continue;
        status("SENT %lu %s", sent, name);
    }
    closedir(d);
    status("DRAINED");
    return 1;
}

static void shutdown_pod(void) {
    kill(-1, SIGKILL);
    while (waitpid(-1, NULL, 0) > 0) {}
    sync();
    if (report_drained()) sleep(DRAINED_WAIT_S);
    power_off();
}

/* Starts pod member `idx`: its disk (serial mh-c<idx>), its output ports, its own rootfs. */
static pid_t start_member(struct spec *sp, int idx) {
    char name[64], dev[300], root[64];
    snprintf(name, sizeof name, "mh-c%d", idx);
    if (find_disk(name, dev, sizeof dev) < 0) {
        status("ERROR pod member %d: no disk %s", idx, name);
        report("EXIT", idx, 125);
        return -1;
    }
    snprintf(name, sizeof name, "mh.c%d.stdout", idx);
    int out = open_port(name, O_WRONLY);
    snprintf(name, sizeof name, "mh.c%d.stderr", idx);
    int err = open_port(name, O_WRONLY);
    if (out < 0 || err < 0) {
        status("ERROR pod member %d: no output ports", idx);
        report("EXIT", idx, 125);
        if (out >= 0) close(out);
        if (err >= 0) close(err);
        return -1;
    }
    snprintf(root, sizeof root, ROOT "-%d", idx);
    setup_rootfs(sp, dev, root);
    make_cgroup(idx, sp->mem_max);
    pid_t pid = spawn(sp, -1, out, err, root, idx, idx);
    close(out);
    close(err);
    return pid;
}

/* Exec slots (health-check commands) take indexes past the containers'. */
#define FIRST_EXEC MAX_CONTAINERS
#define MAX_SLOTS (2 * MAX_CONTAINERS)

struct ctr {
    pid_t pid;
    int idx;       /* container index, or exec slot */
    int exec;      /* an exec'd command, not a container */
    int disk;      /* enforce the disk limit on this container's rootfs */
    char root[32];
};

static void root_of(int idx, char *buf, size_t len) {
    if (idx == 0) snprintf(buf, len, ROOT);
    else snprintf(buf, len, ROOT "-%d", idx);
}

/* Exec'd commands' I/O (protocol.py): output as frames on mh.exec, stdin from I records.
 * Nothing here blocks: a host that reads slowly or a command that never reads its stdin
 * stops that command's I/O, never the init. */
#define XCHUNK 4096            /* data bytes of one frame: protocol.MAX_FRAME */
#define XBUF (64 * 1024)       /* frames waiting for the host */
#define XRESERVE 256           /* room kept for end frames (2 per slot, 4 bytes each) */
#define STDIN_CHUNK (16 * 1024)
#define DRAIN_IDLE_MS 2000     /* protocol.EXEC_DRAIN_S */
#define DRAIN_MAX_MS 30000     /* protocol.EXEC_DRAIN_MAX_S */
#define IO_OUTPUT 1
#define IO_STDIN 2

struct xio {
    int out[3];          /* read ends of the command's stdout [1] and stderr [2]; -1: ended */
    int in;              /* write end of its stdin; -1: closed or none */
    char *pending;       /* the stdin chunk being written (the host waits for its ACK) */
    size_t len, off;
    int close_in;        /* close its stdin once pending is written */
    int live;            /* its process runs: I records are taken and acked */
    long long idle_at;   /* after its exit: end its streams once idle until then */
    long long drain_max; /* ... and at the latest then */
};
static struct xio xio[MAX_SLOTS];
static int exec_fd = -1;
static char xbuf[XBUF];
static size_t xlen;

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static int room(void) { return XBUF - xlen >= 4 + XCHUNK + XRESERVE; }

static void put_header(int slot, int stream, size_t n) {
    unsigned char *h = (unsigned char *)xbuf + xlen;
    h[0] = (unsigned char)slot;
    h[1] = (unsigned char)stream;
    h[2] = (unsigned char)(n & 0xff);
    h[3] = (unsigned char)(n >> 8);
    xlen += 4 + n;
}

static void end_stream(int slot, int k) {
    if (xio[slot].out[k] >= 0) close(xio[slot].out[k]);
    xio[slot].out[k] = -1;
    if (xlen + 4 <= XBUF) put_header(slot, k, 0);
}

/* Writes the pending stdin chunk; ACK once it is in the pipe or was dropped (the command
 * closed its stdin). */
static void feed_stdin(int slot) {
    struct xio *x = &xio[slot];
    while (x->pending && x->in >= 0 && x->off < x->len) {
        ssize_t w = write(x->in, x->pending + x->off, x->len - x->off);
        if (w >= 0) { x->off += (size_t)w; continue; }
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return;
        close(x->in);  /* EPIPE: nobody reads it any more */
        x->in = -1;
    }
    if (x->pending) {
        free(x->pending);
        x->pending = NULL;
        status("ACK %d", slot);
    }
    if (x->close_in && x->in >= 0) { close(x->in); x->in = -1; }
}

/* "slot:" + data for the command's stdin, empty data closes it. */
static void take_stdin(char *p, uint32_t n) {
    char *colon = memchr(p, ':', n < 3 ? n : 3);
    long slot = -1;
    if (colon) { *colon = 0; slot = parse_id(p); }
    size_t len = colon ? n - (size_t)(colon + 1 - p) : 0;
    if (slot < FIRST_EXEC || slot >= MAX_SLOTS || len > STDIN_CHUNK) {
        say("bad stdin record");
        free(p);
        return;
    }
    struct xio *x = &xio[slot];
    if (!x->live) { free(p); return; }  /* it ended: its EXIT tells the host */
    if (len == 0) { x->close_in = 1; free(p); feed_stdin((int)slot); return; }
    if (x->pending) { say("stdin for slot %ld before its ACK: dropped", slot); free(p); return; }
    if (x->in < 0) { free(p); status("ACK %ld", slot); return; }  /* no stdin: dropped */
    memmove(p, colon + 1, len);
    x->pending = p;
    x->len = len;
    x->off = 0;
    feed_stdin((int)slot);
}

/* Its process ended (or never ran): drop its input, ACK what was pending (before the
 * EXIT that follows), and give its output streams until they are drained. */
static void exec_ended(int slot) {
    struct xio *x = &xio[slot];
    x->live = 0;
    if (x->pending) {
        free(x->pending);
        x->pending = NULL;
        status("ACK %d", slot);
    }
    if (x->in >= 0) close(x->in);
    x->in = -1;
    x->close_in = 0;
    long long now = now_ms();
    x->idle_at = now + DRAIN_IDLE_MS;
    x->drain_max = now + DRAIN_MAX_MS;
}

/* One turn: stdin into the pipes, output from the pipes into frames, frames to the host.
 * `hup`: the host is not on the port (it went away): what it would have read is dropped. */
static void exec_io(int hup) {
    long long now = now_ms();
    for (int s = FIRST_EXEC; s < MAX_SLOTS; s++) {
        struct xio *x = &xio[s];
        if (x->pending) feed_stdin(s);
        for (int k = 1; k <= 2; k++) {
            while (x->out[k] >= 0 && room()) {
                ssize_t n = read(x->out[k], xbuf + xlen + 4, XCHUNK);
                if (n > 0) {
                    put_header(s, k, (size_t)n);
                    if (!x->live) x->idle_at = now + DRAIN_IDLE_MS;
                    continue;
                }
                if (n < 0 && errno == EINTR) continue;
                if (n < 0 && errno == EAGAIN) break;
                end_stream(s, k);
            }
            if (x->out[k] >= 0 && !x->live) {
                if (!room()) x->idle_at = now + DRAIN_IDLE_MS;  /* the host is behind */
                if (now >= x->idle_at || now >= x->drain_max) end_stream(s, k);
            }
        }
    }
    while (xlen > 0) {
        ssize_t w = write(exec_fd, xbuf, xlen);
        if (w > 0) {
            memmove(xbuf, xbuf + w, xlen - (size_t)w);
            xlen -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN && !hup) break;
        xlen = 0;
    }
}

/* Runs `sp` inside container `target`'s rootfs and memory cgroup, with pipes for what `io`
 * asks (else /dev/null). */
static pid_t exec_in(struct spec *sp, int slot, int target, int live, int io) {
    struct xio *x = &xio[slot];
    if (x->out[1] >= 0 || x->out[2] >= 0 || x->in >= 0 || x->pending)
        say("exec slot %d reused before its streams ended", slot);
    for (int k = 1; k <= 2; k++) if (x->out[k] >= 0) close(x->out[k]);
    if (x->in >= 0) close(x->in);
    free(x->pending);
    *x = (struct xio){.out = {-1, -1, -1}, .in = -1};
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    if (live && (((io & IO_STDIN) && pipe2(in, O_CLOEXEC) < 0) ||
                 ((io & IO_OUTPUT) && (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)))) {
        status("ERROR exec: pipe: %s", strerror(errno));
        int fds[6] = {in[0], in[1], out[0], out[1], err[0], err[1]};
        for (int i = 0; i < 6; i++) if (fds[i] >= 0) close(fds[i]);
        live = -1;
    }
    if (live <= 0) {
        if (live == 0) status("ERROR exec: no container %d", target);
        if (io & IO_OUTPUT) { end_stream(slot, 1); end_stream(slot, 2); }
        report("EXIT", slot, 125);
        return -1;
    }
    char root[32];
    root_of(target, root, sizeof root);
    int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
    pid_t pid = spawn(sp, in[0], out[1] >= 0 ? out[1] : nul, err[1] >= 0 ? err[1] : nul, root, slot, target);
    close(nul);
    int ends[3] = {in[0], out[1], err[1]};
    for (int i = 0; i < 3; i++) if (ends[i] >= 0) close(ends[i]);
    x->in = in[1];
    x->out[1] = out[0];
    x->out[2] = err[0];
    int mine[3] = {in[1], out[0], err[0]};
    for (int i = 0; i < 3; i++) if (mine[i] >= 0) fcntl(mine[i], F_SETFL, O_NONBLOCK);
    x->live = 1;
    if (pid < 0) exec_ended(slot);  /* it could not exec: its EXIT was reported */
    return pid;
}

/* The task's set-up above (devices a pool claim hot-plugged, mounts, network) is the pod's
 * cost, not the task's: the host applies the task's CPU quota once we are PREPARED, and
 * says go. Only then does the task's process exec (it was forked and set up before, see
 * fork_child). A signal instead of go ends the pod before the task ever ran (a kill
 * during the start). */
static void wait_for_go(int control) {
    for (;;) {
        char tag, *p;
        uint32_t n;
        if (read_record(control, &tag, &p, &n) < 0) fatal("read go");
        if (tag == 'G') { free(p); return; }
        if (tag == 'K') {
            char *colon = strchr(p, ':');
            long sig = parse_id(colon ? colon + 1 : p);
            free(p);
            report("EXIT", 0, 128 + (sig > 0 && sig < 65 ? (int)sig : SIGKILL));
            shutdown_pod();
        }
        say("ignored control record %c before go", tag);
        free(p);
    }
}

int main(void) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);  /* a command that closed its stdin: EPIPE, see feed_stdin */

    mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, NULL);
    mount("proc", "/proc", "proc", 0, NULL);
    mount("sysfs", "/sys", "sysfs", 0, NULL);
    load_modules();
    /* Free pages go back to the host (the balloon's free page reporting) in 4 KiB pages,
     * not only in 2 MiB blocks: most of what the boot touched and freed is fragmented.
     * virtio_balloon sets the order as it registers (6.1 overrides the command line). */
    write_file("/sys/module/page_reporting/parameters/page_reporting_order", "0");
    if (cmdline_has("mh.probe=1")) {
        say("MESOS-HYPER-PROBE-OK");
        power_off();
    }
    setup_cgroups();
    if (cmdline_has("mh.pool_share")) mount_pool_share();
    status_fd = open_port("mh.status", O_WRONLY);
    if (status_fd < 0) fatal("open port mh.status");
    int control = open_port("mh.control", O_RDONLY);
    if (control < 0) fatal("open port mh.control");
    int out = open_port("mh.stdout", O_WRONLY);
    if (out < 0) fatal("open port mh.stdout");
    int err = open_port("mh.stderr", O_WRONLY);
    if (err < 0) fatal("open port mh.stderr");
    exec_fd = open_port("mh.exec", O_WRONLY | O_NONBLOCK);
    if (exec_fd < 0) fatal("open port mh.exec");
    for (int s = 0; s < MAX_SLOTS; s++) xio[s] = (struct xio){.out = {-1, -1, -1}, .in = -1};
    status("READY");

    struct ctr ctrs[MAX_SLOTS];
    int nctr = 0, ncontainers = 0;
    static struct spec first;
    read_spec(control, &first);
    if (first.has_seed) reseed(first.seed, sizeof first.seed);
    if (first.clock.tv_sec && clock_settime(CLOCK_REALTIME, &first.clock) < 0) say("set clock: %s", strerror(errno));
    if (first.hostname && sethostname(first.hostname, strlen(first.hostname)) < 0) fatal("sethostname");
    if (first.net) configure_network(first.net);
    char rootdev[300];
    if (find_disk("mh-c0", rootdev, sizeof rootdev) < 0) fatal("no root disk mh-c0");
    setup_rootfs(&first, rootdev, ROOT);
    make_cgroup(0, first.mem_max);
    struct child child0;
    fork_child(&first, -1, out, err, ROOT, 0, &child0);
    close(out);
    close(err);
    status("PREPARED");
    wait_for_go(control);
    pid_t pid0 = release_child(&child0, 0);
    if (pid0 < 0) shutdown_pod();
    ctrs[nctr++] = (struct ctr){pid0, 0, 0, first.disk_enforce, ROOT};
    ncontainers++;
    report("STARTED", 0, (int)pid0);
    long vm_ooms = read_counter("/proc/vmstat", "oom_kill");

    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) fatal("signalfd");
    struct pollfd fds[3 + 3 * MAX_SLOTS];
    for (;;) {
        int nfds = 0, ci = -1, xi = -1, timeout = 1000;
        fds[nfds++] = (struct pollfd){.fd = sfd, .events = POLLIN};
        if (control >= 0) { ci = nfds; fds[nfds++] = (struct pollfd){.fd = control, .events = POLLIN}; }
        if (xlen > 0) { xi = nfds; fds[nfds++] = (struct pollfd){.fd = exec_fd, .events = POLLOUT}; }
        long long now = now_ms();
        for (int s = FIRST_EXEC; s < MAX_SLOTS; s++) {
            struct xio *x = &xio[s];
            for (int k = 1; k <= 2; k++) {
                if (x->out[k] < 0) continue;
                if (room()) fds[nfds++] = (struct pollfd){.fd = x->out[k], .events = POLLIN};
                if (!x->live) {
                    long long at = x->idle_at < x->drain_max ? x->idle_at : x->drain_max;
                    long long left = at > now ? at - now : 0;
                    if (left < timeout) timeout = (int)left;
                }
            }
            if (x->pending && x->in >= 0) fds[nfds++] = (struct pollfd){.fd = x->in, .events = POLLOUT};
        }
        int ready = poll(fds, nfds, timeout);
        if (ready < 0) { if (errno == EINTR) continue; fatal("poll"); }
        exec_io(xi >= 0 && (fds[xi].revents & (POLLHUP | POLLERR)));
        online_cpus();
        for (int i = 0; i < nctr; i++)
            if (ctrs[i].disk && !ctrs[i].exec && disk_full(ctrs[i].root)) {
                ctrs[i].disk = 0;  /* report once; the EXIT follows */
                report_limit("disk", ctrs[i].idx);
                kill(-ctrs[i].pid, SIGKILL);
            }
        if (ready == 0) continue;
        if (ci >= 0 && fds[ci].revents) {
            char tag, *p;
            uint32_t n;
            if (read_record(control, &tag, &p, &n) < 0) {
                close(control);  /* host went away: keep running the processes */
                control = -1;
            } else if (tag == 'K') {
                /* "signum" for container 0, "index:signum" for a pod member or exec slot */
                char *colon = strchr(p, ':');
                long idx = 0, sig;
                if (colon) { *colon = 0; idx = parse_id(p); sig = parse_id(colon + 1); }
                else sig = parse_id(p);
                for (int i = 0; i < nctr; i++)
                    if (ctrs[i].idx == idx && sig > 0 && sig < 65)
                        kill(ctrs[i].exec ? -ctrs[i].pid : ctrs[i].pid, (int)sig);
                free(p);
            } else if (tag == 'C') {
                long idx = parse_id(p);
                free(p);
                struct spec *sp = calloc(1, sizeof *sp);
                if (!sp || idx < 1 || idx >= MAX_CONTAINERS || nctr >= MAX_SLOTS) {
                    errno = EINVAL;
                    fatal("pod member index");
                }
                read_spec(control, sp);
                pid_t pid = start_member(sp, (int)idx);
                if (pid > 0) {
                    ctrs[nctr] = (struct ctr){pid, (int)idx, 0, sp->disk_enforce, ""};
                    root_of((int)idx, ctrs[nctr].root, sizeof ctrs[nctr].root);
                    nctr++;
                    ncontainers++;
                    report("STARTED", (int)idx, (int)pid);
                }
            } else if (tag == 'I') {
                take_stdin(p, n);
            } else if (tag == 'X') {
                /* "slot:container[:io]": run a command in a running container */
                char *colon = strchr(p, ':'), *colon2 = colon ? strchr(colon + 1, ':') : NULL;
                long slot = -1, target = -1, io = 0;
                if (colon2) { *colon2 = 0; io = parse_id(colon2 + 1); }
                if (colon) { *colon = 0; slot = parse_id(p); target = parse_id(colon + 1); }
                free(p);
                if (slot < FIRST_EXEC || slot >= MAX_SLOTS || target < 0 || target >= MAX_CONTAINERS ||
                    nctr >= MAX_SLOTS || io < 0 || io > (IO_OUTPUT | IO_STDIN)) {
                    errno = EINVAL;
                    fatal("exec slot");
                }
                static struct spec xs;
                for (int i = 0; i < xs.argc; i++) free(xs.argv[i]);
                for (int i = 0; i < xs.envc; i++) free(xs.env[i]);
                free(xs.workdir); free(xs.hostname); free(xs.net);
                for (int i = 0; i < xs.nmounts; i++) free(xs.mounts[i]);
                for (int i = 0; i < xs.nfiles; i++) free(xs.files[i]);
                read_spec(control, &xs);
                int live = 0;
                for (int i = 0; i < nctr; i++) live |= !ctrs[i].exec && ctrs[i].idx == target;
                pid_t pid = exec_in(&xs, (int)slot, (int)target, live, (int)io);
                if (pid > 0) {
                    ctrs[nctr++] = (struct ctr){pid, (int)slot, 1, 0, ""};
                    report("STARTED", (int)slot, (int)pid);
                }
            } else if (tag == 'L') {
                /* "container:bytes": a new memory limit for a running container */
                char *colon = strchr(p, ':');
                if (colon && have_cgroups) {
                    *colon = 0;
                    long idx = parse_id(p);
                    char path[128];
                    if (idx >= 0 && idx < MAX_CONTAINERS) {
                        cgroup_path(path, sizeof path, (int)idx, "memory.max");
                        write_file(path, colon + 1);
                    }
                }
                free(p);
            } else {
                say("ignored control record %c", tag);
                free(p);
            }
        }
        if (fds[0].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == sizeof si) {}
            int wst;
            pid_t got;
            while ((got = waitpid(-1, &wst, WNOHANG)) > 0) {
                for (int i = 0; i < nctr; i++) {
                    if (ctrs[i].pid != got) continue;
                    int code = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
                    kill(-got, SIGKILL);  /* the member's own session */
                    if (!ctrs[i].exec) {
                        long ooms = read_counter("/proc/vmstat", "oom_kill");
                        if (oom_killed(ctrs[i].idx) ||
                            (WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL && ooms > vm_ooms))
                            report_limit("memory", ctrs[i].idx);
                        vm_ooms = ooms;
                        ncontainers--;
                    } else {
                        exec_ended(ctrs[i].idx);  /* its ACKs come before its EXIT */
                    }
                    report("EXIT", ctrs[i].idx, code);
                    ctrs[i] = ctrs[--nctr];
                    break;
                }
            }
            if (ncontainers == 0) shutdown_pod();
        }
    }
}
