/* bench/vm_pps_send.c: the sender of bench/vm-pps-guest.sh (inside the test VM).
 *
 * Crafted IPv4 frames written to AF_PACKET sockets (PACKET_QDISC_BYPASS,
 * sendmmsg in batches of 64) on eth0 of the lab's LAN hosts vm-h1, vm-h2
 * (192.168.1.2, .3) and of the server vm-s; one process, setns(2) per socket.
 *
 * Mapping k (k = 0, 1, ...) belongs to pair j = k % P: host j % 2, peer
 * 198.18.0.1 + j / 2; its SPIs are 0x10000000 + k (host -> peer) and
 * 0x20000000 + k (peer -> host). UDP flow k: the same host and peer, source
 * port 1024 + k / P, destination port 4000.
 *
 *   vm_pps_send fill FROM TO P RMAC_LAN RMAC_WAN
 *       binds mappings FROM..TO-1 by the no-IKE rule: host's ESP on the new
 *       SPI, then the peer's first ESP on its new SPI (to 203.0.113.1),
 *       one mapping after the other; pinned to CPU 1, where RPS sends what
 *       the router receives, so that each packet is handled in order in
 *       this CPU's backlog before the next is sent
 *   vm_pps_send blast esp|udp M P SECS LEN RMAC_LAN [RATE]
 *       for SECS seconds, frames of mappings (flows) 0..M-1 in turn from both
 *       hosts (IP total length LEN), pinned to CPU 0, at most RATE frames per
 *       second if RATE is given and not 0; prints the frames sent, the frames
 *       the router (vm-r) forwarded out of its eth0 in that time, the packets
 *       CPU 1's backlog dropped (the router's RPS CPU: drops there mean the
 *       sender offered more than the router forwarded), and how busy CPU 1 was
 *       over the same interval: 1 - its idle time (/proc/stat; the idle time is
 *       exact under NO_HZ, in 10 ms units) / the interval. cpu1_ns_per_pkt is
 *       CPU 1's busy time per forwarded frame and capacity_pps its inverse:
 *       the rate CPU 1 would forward if it did nothing else (the router's own
 *       limit, whatever the sender offers). With PPS_NAME set it also prints
 *       "PPS_MARK start|end NAME" lines on stderr (the console) around the
 *       interval: bench/vm_pps.sh reads QEMU's vCPU threads' CPU time then
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

struct port {
	int fd;
	unsigned char mac[6];
};

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int enter(const char *ns)
{
	char path[128];
	int own = open("/proc/self/ns/net", O_RDONLY), fd;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY);
	if (own < 0 || fd < 0 || setns(fd, CLONE_NEWNET) != 0)
		die(path);
	close(fd);
	return own;
}

static void leave(int own)
{
	if (setns(own, CLONE_NEWNET) != 0)
		die("setns back");
	close(own);
}

static struct port port_in(const char *ns)
{
	struct port p;
	struct ifreq ifr;
	struct sockaddr_ll sll;
	int one = 1, own = enter(ns);

	p.fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (p.fd < 0)
		die("socket");
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "eth0");
	if (ioctl(p.fd, SIOCGIFHWADDR, &ifr) != 0)
		die("SIOCGIFHWADDR");
	memcpy(p.mac, ifr.ifr_hwaddr.sa_data, 6);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_IP);
	sll.sll_ifindex = (int)if_nametoindex("eth0");
	if (bind(p.fd, (struct sockaddr *)&sll, sizeof(sll)) != 0)
		die("bind");
	setsockopt(p.fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	leave(own);
	return p;
}

static void mac_parse(const char *s, unsigned char *mac)
{
	if (sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 6) {
		fprintf(stderr, "bad MAC %s\n", s);
		exit(2);
	}
}

static uint16_t csum(const unsigned char *b, int n)
{
	uint32_t s = 0;

	for (int i = 0; i < n; i += 2)
		s += (uint32_t)b[i] << 8 | b[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* One Ethernet + IPv4 frame of IP total length len into f; returns its length. */
static int frame(unsigned char *f, const unsigned char *dmac, const unsigned char *smac, uint32_t src,
		 uint32_t dst, int proto, uint32_t spi_or_ports, int len)
{
	unsigned char *ip = f + 14, *l4 = ip + 20;
	uint16_t c;

	memset(f, 0, 14 + len);
	memcpy(f, dmac, 6);
	memcpy(f + 6, smac, 6);
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[2] = len >> 8;
	ip[3] = len & 0xff;
	ip[8] = 64;
	ip[9] = proto;
	src = htonl(src);
	dst = htonl(dst);
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	c = csum(ip, 20);
	ip[10] = c >> 8;
	ip[11] = c & 0xff;
	if (proto == IPPROTO_ESP) {
		uint32_t spi = htonl(spi_or_ports), seq = htonl(1);

		memcpy(l4, &spi, 4);
		memcpy(l4 + 4, &seq, 4);
	} else {	/* UDP: ports from spi_or_ports (sport << 16 | dport), no checksum */
		uint16_t ul = htons((uint16_t)(len - 20));
		uint32_t ports = htonl(spi_or_ports);

		memcpy(l4, &ports, 4);
		memcpy(l4 + 4, &ul, 2);
	}
	return 14 + len;
}

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return ntohl(a.s_addr);
}

static uint32_t host_of(uint32_t j) { return ip4("192.168.1.2") + j % 2; }
static uint32_t peer_of(uint32_t j) { return ip4("198.18.0.1") + j / 2; }

static void pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		die("sched_setaffinity");
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Frames the router forwarded out of its eth0 so far (/proc/net/dev: tx
 * packets + tx drop: veth counts a frame the server's backlog had no room for
 * as a tx drop, after the router did all the work). */
static unsigned long long router_tx(void)
{
	int own = enter("vm-r");
	FILE *f = fopen("/proc/thread-self/net/dev", "r");
	char line[512];
	unsigned long long v[16] = {0};

	if (!f)
		die("/proc/thread-self/net/dev");
	while (fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');

		if (!c || strncmp(line + strspn(line, " "), "eth0:", 5) != 0)
			continue;
		sscanf(c + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		       &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11]);
	}
	fclose(f);
	leave(own);
	return v[9] + v[11];
}

/* Packets CPU 1's backlog dropped so far (/proc/net/softnet_stat, line 2, field 2). */
static unsigned long long cpu1_drops(void)
{
	FILE *f = fopen("/proc/net/softnet_stat", "r");
	unsigned int a = 0, b = 0;
	char line[512];

	if (!f)
		die("/proc/net/softnet_stat");
	for (int i = 0; i < 2 && fgets(line, sizeof(line), f); i++)
		sscanf(line, "%x %x", &a, &b);
	fclose(f);
	return b;
}

/* CPU 1's idle time so far (idle + iowait), and its softirq, system and
 * user (+ nice) time, in USER_HZ ticks (/proc/stat). */
struct cpustat {
	unsigned long long idle, softirq, sys, user, irq;
};

static struct cpustat cpu1_stat(void)
{
	FILE *f = fopen("/proc/stat", "r");
	char line[512];
	struct cpustat c = {0};
	unsigned long long v[8] = {0};

	if (!f)
		die("/proc/stat");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "cpu1 %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
			   &v[5], &v[6], &v[7]) == 8)
			break;
	fclose(f);
	c.user = v[0] + v[1];
	c.sys = v[2];
	c.idle = v[3] + v[4];
	c.irq = v[5];
	c.softirq = v[6];
	return c;
}

static int fill(int argc, char **argv)
{
	uint32_t from, to, p;
	unsigned char rlan[6], rwan[6], f[128];
	struct port h[2], s;

	if (argc != 7)
		return 2;
	from = strtoul(argv[2], NULL, 0);
	to = strtoul(argv[3], NULL, 0);
	p = strtoul(argv[4], NULL, 0);
	mac_parse(argv[5], rlan);
	mac_parse(argv[6], rwan);
	pin_cpu(1);
	h[0] = port_in("vm-h1");
	h[1] = port_in("vm-h2");
	s = port_in("vm-s");
	for (uint32_t k = from; k < to; k++) {
		uint32_t j = k % p;
		int n = frame(f, rlan, h[j % 2].mac, host_of(j), peer_of(j), IPPROTO_ESP, 0x10000000u + k, 64);

		if (send(h[j % 2].fd, f, n, 0) != n)
			die("send out");
		n = frame(f, rwan, s.mac, peer_of(j), ip4("203.0.113.1"), IPPROTO_ESP, 0x20000000u + k, 64);
		if (send(s.fd, f, n, 0) != n)
			die("send in");
		if (k % 128 == 127)
			usleep(1000);	/* lets ksoftirqd catch up if it took over */
	}
	printf("filled %u..%u\n", from, to);
	return 0;
}

static int blast(int argc, char **argv)
{
	int esp, len;
	uint32_t m, p;
	double secs, t0, t1, rate = 0, w0, w1, hz = (double)sysconf(_SC_CLK_TCK);
	struct cpustat c0, c1;
	unsigned char rlan[6];
	struct port h[2];
	unsigned char *buf[2];
	struct mmsghdr *msg[2];
	struct iovec *iov[2];
	uint32_t n[2] = {0, 0}, cur[2] = {0, 0};
	unsigned long long sent = 0, tx0, tx1, d0, d1;

	if (argc != 8 && argc != 9)
		return 2;
	if (argc == 9)
		rate = atof(argv[8]);
	esp = strcmp(argv[2], "esp") == 0;
	m = strtoul(argv[3], NULL, 0);
	p = strtoul(argv[4], NULL, 0);
	secs = atof(argv[5]);
	len = atoi(argv[6]);
	mac_parse(argv[7], rlan);
	if (len < 28 || len > 1400 || m == 0 || p == 0)
		return 2;
	pin_cpu(0);
	h[0] = port_in("vm-h1");
	h[1] = port_in("vm-h2");
	for (int i = 0; i < 2; i++) {
		buf[i] = calloc(m, 14 + len);
		msg[i] = calloc(m, sizeof(struct mmsghdr));
		iov[i] = calloc(m, sizeof(struct iovec));
		if (!buf[i] || !msg[i] || !iov[i])
			die("calloc");
	}
	for (uint32_t k = 0; k < m; k++) {
		uint32_t j = k % p, i = j % 2;
		unsigned char *f = buf[i] + (size_t)n[i] * (14 + len);
		uint32_t x = esp ? 0x10000000u + k : (1024 + k / p) << 16 | 4000;

		iov[i][n[i]].iov_base = f;
		iov[i][n[i]].iov_len = frame(f, rlan, h[i].mac, host_of(j), peer_of(j),
					     esp ? IPPROTO_ESP : IPPROTO_UDP, x, len);
		msg[i][n[i]].msg_hdr.msg_iov = &iov[i][n[i]];
		msg[i][n[i]].msg_hdr.msg_iovlen = 1;
		n[i]++;
	}
	if (getenv("PPS_NAME")) {	/* for bench/vm_pps.sh on the host: it samples QEMU's vCPU threads */
		fprintf(stderr, "PPS_MARK start %s\n", getenv("PPS_NAME"));
		usleep(100000);
	}
	c0 = cpu1_stat();
	w0 = now();
	tx0 = router_tx();
	d0 = cpu1_drops();
	t0 = now();
	t1 = t0;
	while (t1 - t0 < secs) {
		for (int i = 0; i < 2; i++) {
			int b, r;

			if (!n[i] || (rate > 0 && sent >= rate * (t1 - t0)))
				continue;
			b = n[i] - cur[i] < BATCH ? (int)(n[i] - cur[i]) : BATCH;
			r = sendmmsg(h[i].fd, msg[i] + cur[i], b, 0);
			if (r < 0) {
				if (errno == ENOBUFS || errno == EAGAIN)
					continue;
				die("sendmmsg");
			}
			sent += r;
			cur[i] = (cur[i] + r) % n[i];
		}
		t1 = now();
	}
	usleep(200000);		/* the router's backlog drains */
	tx1 = router_tx();
	d1 = cpu1_drops();
	w1 = now();
	c1 = cpu1_stat();
	if (getenv("PPS_NAME"))
		fprintf(stderr, "PPS_MARK end %s forwarded=%llu wall_ns=%.0f\n", getenv("PPS_NAME"), tx1 - tx0,
			(w1 - w0) * 1e9);
	{
		double wall = w1 - w0, idle = (double)(c1.idle - c0.idle) / hz, busy = 1 - idle / wall;
		double ticks = (double)(c1.softirq - c0.softirq + c1.sys - c0.sys + c1.user - c0.user + c1.irq - c0.irq);
		double ns = busy * wall * 1e9 / (double)(tx1 - tx0 ? tx1 - tx0 : 1);

		if (busy < 0)
			busy = 0;
		printf("proto=%s mappings=%u secs=%.2f sent_pps=%.0f forwarded_pps=%.0f cpu1_backlog_drops=%llu "
		       "cpu1_busy=%.3f cpu1_ns_per_pkt=%.0f capacity_pps=%.0f cpu1_softirq_share=%.2f\n",
		       esp ? "esp" : "udp", m, t1 - t0, sent / (t1 - t0), (tx1 - tx0) / (t1 - t0), d1 - d0, busy, ns,
		       1e9 / ns, ticks > 0 ? (double)(c1.softirq - c0.softirq) / ticks : 0);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int rc = 2;

	if (argc > 1 && strcmp(argv[1], "fill") == 0)
		rc = fill(argc, argv);
	else if (argc > 1 && strcmp(argv[1], "blast") == 0)
		rc = blast(argc, argv);
	if (rc == 2)
		fprintf(stderr, "usage: vm_pps_send fill FROM TO P RMAC_LAN RMAC_WAN\n"
				"       vm_pps_send blast esp|udp M P SECS LEN RMAC_LAN [RATE]\n");
	return rc;
}
