// SPDX-License-Identifier: GPL-2.0
/*
 * main.c: vpnpt_esp, ESP SPI multiplexing for a NAT router.
 *
 * Lets any number of LAN hosts run raw ESP (and IKE on port 500) to the same
 * remote peer through one public address.  The module only classifies: each
 * (LAN host, peer) pair gets a conntrack zone, and ordinary conntrack NAT
 * (masquerade) does the rewriting in that zone.  See DESIGN.md.
 */
#include <linux/module.h>
#include <net/genetlink.h>
#include <linux/rcupdate.h>
#include "hooks.h"
#include "netlink.h"
#include "pernet.h"
#include "uapi/vpnpt_esp.h"

static int __init vpnpt_esp_init(void)
{
	int ret;

	ret = vpnpt_hooks_init();
	if (ret)
		return ret;
	ret = vpnpt_pernet_init();
	if (ret)
		goto err_pernet;
	ret = vpnpt_wan_notifier_init();
	if (ret)
		goto err_notifier;
	ret = vpnpt_genl_init();
	if (ret)
		goto err_genl;
	pr_info("vpnpt_esp: ESP SPI multiplexing loaded\n");
	return 0;

err_genl:
	vpnpt_wan_notifier_uninit();
err_notifier:
	vpnpt_pernet_uninit();
err_pernet:
	vpnpt_hooks_uninit();
	return ret;
}

static void __exit vpnpt_esp_exit(void)
{
	vpnpt_genl_uninit();
	vpnpt_wan_notifier_uninit();
	vpnpt_pernet_uninit();	/* unregisters the hooks of every netns */
	rcu_barrier();		/* every kfree_rcu of the tables has run */
	vpnpt_hooks_uninit();
}

module_init(vpnpt_esp_init);
module_exit(vpnpt_esp_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vpnpt: ESP SPI multiplexing behind NAT (classifies into conntrack zones)");
MODULE_AUTHOR("vpnpt");
/* No MODULE_ALIAS_GENL_FAMILY: resolving the family name must not load the
 * module for anyone who asks (any user can); the controller loads it. */
