"""The tiny image's guest side: its init, inittab and event scripts, as shipped in the initramfs.

The guest learns its authorized key from QEMU's fw_cfg (`opt/nexq/authorized_keys`), not from
the kernel command line: a key there would be readable by every user in /proc/cmdline and
counts against the 2 KiB command-line limit.
"""

from __future__ import annotations

FW_CFG_AUTHORIZED_KEYS = "opt/nexq/authorized_keys"
# Lines the host reads in the serial log to follow the boot (tests and, later, the service).
READY_LINE = "nexq-tiny: ssh ready"
POWER_BUTTON_LINE = "nexq-tiny: power button pressed"

INIT = f"""#!/bin/busybox sh
# PID 1 until the system is up; then busybox init takes over (it reaps orphans and runs
# `poweroff` properly, which a shell as PID 1 would not).
export PATH=/bin:/usr/bin:/usr/sbin
/bin/busybox mount -t proc proc /proc
# After /proc: busybox finds itself through /proc/self/exe to make its applet links.
/bin/busybox --install -s /bin
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /tmp /run /var/run /var/log /data
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
echo "nexq-tiny: init on $(uname -r)"
# The stock kernel builds virtio, fw_cfg and the ACPI button as modules: load them in the
# dependency order the image builder worked out.
for module in $(cat /lib/modules/load-order); do
    insmod "/lib/modules/$module" || echo "nexq-tiny: cannot load $module"
done
for arg in $(cat /proc/cmdline); do
    case "$arg" in nexq.hostname=*) hostname "${{arg#nexq.hostname=}}" ;; esac
done
ip link set lo up
udhcpc -i eth0 -s /etc/udhcpc.script -q -n -t 10 -T 1 || echo "nexq-tiny: no DHCP lease"
# The first disk keeps the instance's data (Nexq makes it with an ext4 filesystem). Only a
# disk that holds no filesystem at all is formatted here: one that fails to mount is left
# as it is, with its data, and said so on the console.
if [ -b /dev/vda ]; then
    # Blank: its first 64 KiB (where any filesystem's superblock is) are all zeros.
    data=$(dd if=/dev/vda bs=65536 count=1 2>/dev/null | tr -d '\\000' | head -c 1 | wc -c)
    if [ "$data" = 0 ]; then
        echo "nexq-tiny: formatting the blank disk"
        mke2fs -q /dev/vda
    fi
    mount /dev/vda /data || echo "nexq-tiny: /dev/vda does not mount; it is left unformatted"
fi
keys=/sys/firmware/qemu_fw_cfg/by_name/{FW_CFG_AUTHORIZED_KEYS}/raw
mkdir -p /root/.ssh /etc/dropbear
chmod 700 /root /root/.ssh
if [ -r "$keys" ]; then
    cat "$keys" > /root/.ssh/authorized_keys
else
    echo "nexq-tiny: no authorized key in fw_cfg"
fi
chmod 600 /root/.ssh/authorized_keys 2>/dev/null
# The host key is made once and kept on the instance's disk: it stays the same across
# stops, starts and reboots, so ssh clients that remember it are not alarmed.
host_key=/etc/dropbear/dropbear_ed25519_host_key
if [ -s /data/.nexq/host_key ]; then
    cp /data/.nexq/host_key "$host_key"
else
    dropbearkey -t ed25519 -f "$host_key" >/dev/null 2>&1 || echo "nexq-tiny: dropbearkey failed"
    if grep -q " /data " /proc/mounts; then
        mkdir -p /data/.nexq && chmod 700 /data/.nexq && cp "$host_key" /data/.nexq/host_key
    fi
fi
echo "{READY_LINE}"
exec /bin/init
"""

INITTAB = """\
::respawn:/usr/sbin/dropbear -F -E -s -r /etc/dropbear/dropbear_ed25519_host_key
::respawn:/bin/acpid -f -c /etc/acpi
::shutdown:/bin/sync
::shutdown:/bin/umount /data
"""

# busybox acpid turns the power button's input event into "PWRF/00000080" and runs the
# file of that name under its configuration folder: QEMU's system_powerdown lands here.
POWER_BUTTON = f"""#!/bin/sh
echo "{POWER_BUTTON_LINE}" > /dev/console
exec poweroff
"""

UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
    deconfig) ifconfig "$interface" 0.0.0.0 up ;;
    bound|renew)
        ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
        for gateway in $router; do route add default gw "$gateway" dev "$interface"; break; done
        : > /etc/resolv.conf
        for server in $dns; do echo "nameserver $server" >> /etc/resolv.conf; done
        echo "nexq-tiny: $interface has $ip"
        ;;
esac
"""

# No password anywhere: dropbear runs with -s (keys only); "*" is a locked password that
# dropbear does not mistake for a locked account ("!").
USERS = "root:*:0:0:root:/root:/bin/sh\n"  # /etc/passwd
GROUP = "root:x:0:\n"
SHELLS = "/bin/sh\n"
NSSWITCH = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"
