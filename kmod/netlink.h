/* SPDX-License-Identifier: GPL-2.0 */
/* netlink.h: the "vpnpt_esp" generic netlink family. */
#ifndef VPNPT_NETLINK_H
#define VPNPT_NETLINK_H

int vpnpt_genl_init(void);
void vpnpt_genl_uninit(void);

#endif
