#!/usr/bin/python3
# nm-vpn-probe.py NAME: holds a VPN service's D-Bus name on the system bus
# (DBUS_SYSTEM_BUS_ADDRESS) and prints every method call it receives, one
# line each: "call INTERFACE.MEMBER PATH".  It implements no object, so
# GDBus answers each call with an error.
#
# With the name already owned, NetworkManager does not start the program
# of the VPN service's .name file; it talks to the owner.  A test can so
# see NetworkManager resolve a VPN connection to the service and call it,
# without the real service running.
#
# /usr/bin/python3: the python3 first on PATH may lack PyGObject (lab §0).
import sys

from gi.repository import Gio, GLib

DBUS_NAME_FLAG_DO_NOT_QUEUE = 4
DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER = 1


def log_call(connection, message, incoming):
    # Filters run before GDBus dispatches (and answers) the call, so the
    # line is written before the caller can see any reply.
    if incoming and message.get_message_type() == Gio.DBusMessageType.METHOD_CALL:
        print("call %s.%s %s" % (message.get_interface(), message.get_member(),
                                 message.get_path()), flush=True)
    return message


def main():
    name = sys.argv[1]
    bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
    bus.add_filter(log_call)
    try:
        reply = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                              "org.freedesktop.DBus", "RequestName",
                              GLib.Variant("(su)", (name, DBUS_NAME_FLAG_DO_NOT_QUEUE)),
                              GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE, -1, None)
    except GLib.Error as e:
        print("refused %s: %s" % (name, e.message), flush=True)
        return 1
    if reply.unpack()[0] != DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER:
        print("refused %s: already owned" % name, flush=True)
        return 1
    print("owned %s" % name, flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
