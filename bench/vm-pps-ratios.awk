# bench/vm-pps-ratios.awk: the medians and ratios of bench/vm-pps-guest.sh
# (in the VM, on CPU 1's busy time) and of bench/vm_pps.sh (on the host, on
# the CPU time of QEMU's vCPU 1 thread). Input: one line per run, "NAME
# forwarded_pps sent_pps backlog_drops cpu1_busy capacity_pps"; -v big=N
# (mappings of the third phase), -v pairs=P (the pairs they are spread over).
{ k = $1; c[k]++; f[k, c[k]] = $2; s[k, c[k]] = $3; d[k, c[k]] += $4; b[k, c[k]] = $5; cap[k, c[k]] = $6 }
function med(k, v,   n, i, j, t, a) {
	n = c[k]; for (i = 1; i <= n; i++) a[i] = v == "cap" ? cap[k, i] : v == "busy" ? b[k, i] : f[k, i]
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function line(k, what,   i, lo, hi, sent, drops, clo, chi) {
	if (!c[k]) return
	lo = hi = f[k, 1]; clo = chi = cap[k, 1]; sent = 0; drops = 0
	for (i = 1; i <= c[k]; i++) {
		if (f[k, i] < lo) lo = f[k, i]; if (f[k, i] > hi) hi = f[k, i]
		if (cap[k, i] < clo) clo = cap[k, i]; if (cap[k, i] > chi) chi = cap[k, i]
		sent += s[k, i]; drops += d[k, i]
	}
	printf "PPS %-14s %-44s forwarded median %7.0f pps (min %.0f, max %.0f), offered %.0f pps, backlog drops %d, CPU 1 busy median %.3f, capacity median %7.0f pps (min %.0f, max %.0f)\n",
		k, what, med(k, "fwd"), lo, hi, sent / c[k], drops, med(k, "busy"), med(k, "cap"), clo, chi
}
function val(k, i, v) { return v == "cap" ? cap[k, i] : f[k, i] }
# (a / its yardstick ya) / (bb / its yardstick yb), run by run
function ratio2(a, ya, bb, yb, what, v,   i, r, x, n, j, t) {
	n = c[a]; if (c[bb] < n) n = c[bb]; if (c[ya] < n) n = c[ya]; if (c[yb] < n) n = c[yb]
	if (!n) return
	for (i = 1; i <= n; i++) x[i] = (val(a, i, v) / val(ya, i, v)) / (val(bb, i, v) / val(yb, i, v))
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
	r = n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
	printf "RATIO %-8s %-62s %.3f (runs: min %.3f, max %.3f, n=%d)\n", v, what, r, x[1], x[n], n
}
function ratio(a, bb, what, v,   i, r, x, n, j, t) {
	n = c[a] < c[bb] ? c[a] : c[bb]
	if (!n) return
	for (i = 1; i <= n; i++) x[i] = v == "cap" ? cap[a, i] / cap[bb, i] : v == "capfwd" ? cap[a, i] / f[bb, i] : f[a, i] / f[bb, i]
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
	r = n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
	printf "RATIO %-8s %-62s %.3f (runs: min %.3f, max %.3f, n=%d)\n", v, what, r, x[1], x[n], n
}
END {
	line("esp_1", "ESP, 1 mapping (1 host)")
	line("esp_1k", "ESP, 1,000 mappings (2 hosts x 500 peers)")
	line("udp_ph1", "UDP masquerade, 1,000 flows, beside ESP 1")
	line("udp_1k", "UDP masquerade, 1,000 flows (same hosts, peers)")
	line("udp_1", "UDP masquerade, 1 flow, beside ESP 1")
	line("udp_ph3", sprintf("UDP masquerade, 1,000 flows, beside ESP %d", big))
	line("udp_big", sprintf("UDP masquerade, %d flows, beside ESP %d", pairs, big))
	line("slow_sat", "slowed router, ESP 1,000, unthrottled")
	line("slow_paced", "slowed router, ESP 1,000, paced at 80 %")
	line("esp_big", sprintf("ESP, %d mappings, traffic on all", big))
	line("esp_big_hot1k", sprintf("ESP, %d mappings, traffic on 1,000", big))
	line("esp_big_hot1", sprintf("ESP, %d mappings, traffic on 1", big))
	line("udp_1_ph3", sprintf("UDP masquerade, 1 flow, beside ESP %d", big))
	for (v = 1; v <= 2; v++) {
		w = v == 1 ? "cap" : "fwd"
		ratio("esp_1k", "udp_1k", "ESP 1,000 mappings / UDP masquerade 1,000 flows", w)
		ratio("esp_big", "esp_1", sprintf("ESP %d mappings (all) / ESP 1 mapping", big), w)
		ratio("esp_big_hot1k", "esp_1k", sprintf("ESP %d mappings (1,000 hot) / ESP 1,000", big), w)
		ratio("esp_1k", "esp_1", "ESP 1,000 mappings / ESP 1 mapping", w)
		ratio("esp_big", "esp_1k", sprintf("ESP %d mappings (all) / ESP 1,000 mappings", big), w)
		ratio("esp_1", "udp_ph1", "ESP 1 mapping / UDP beside it", w)
		ratio("esp_big", "udp_ph3", sprintf("ESP %d mappings (all) / UDP beside it", big), w)
		ratio2("esp_big", "udp_ph3", "esp_1", "udp_ph1", sprintf("ESP %d / ESP 1, each per UDP beside it", big), w)
		ratio2("esp_1k", "udp_1k", "esp_1", "udp_ph1", "ESP 1,000 / ESP 1, each per UDP beside it", w)
		ratio("udp_1k", "udp_1", "UDP 1,000 flows / UDP 1 flow (conntrack's own)", w)
		ratio("udp_big", "udp_1", sprintf("UDP %d flows / UDP 1 flow (conntrack's own)", pairs), w)
		ratio2("esp_1k", "esp_1", "udp_1k", "udp_1", "ESP 1,000 / ESP 1 against UDP 1,000 / UDP 1 flow", w)
		ratio2("esp_big", "esp_1", "udp_big", "udp_1", sprintf("ESP %d / ESP 1 against UDP %d / UDP 1 flow", big, pairs), w)
		# within the third phase, run by run: the host's drift between phases left out
		ratio("esp_big", "esp_big_hot1", sprintf("in one table: ESP on all %d / on 1 of them", big), w)
		ratio("udp_big", "udp_1_ph3", sprintf("beside it: UDP %d flows / UDP 1 flow (conntrack's own)", pairs), w)
		ratio2("esp_big", "esp_big_hot1", "udp_big", "udp_1_ph3", sprintf("in one table: ESP all %d / 1, against UDP %d / 1 flow", big, pairs), w)
		ratio("esp_big", "esp_big_hot1k", sprintf("in one table: ESP on all %d / on 1,000 of them", big), w)
		ratio2("esp_big_hot1", "udp_1_ph3", "esp_1", "udp_1", sprintf("ESP on 1 of %d / ESP 1 mapping, each per UDP 1 flow", big), w)
	}
	ratio("slow_paced", "slow_sat", "slowed: capacity of the paced run / forwarded when saturated", "capfwd")
	ratio("slow_sat", "slow_sat", "slowed: capacity of the saturated run / its forwarded", "capfwd")
}
