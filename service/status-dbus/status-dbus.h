/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The engine's status record on D-Bus, so that `nm-netbird status`, applets
 * and scripts can read it without privileges.
 *
 * NbStatusDbus follows an NbStatusRecorder and mirrors it into a
 * GDBusObjectManagerServer at @root (the service uses
 * NB_STATUS_DBUS_ROOT):
 *   @root/daemon     org.freedesktop.NetworkManager.netbird.Daemon: the
 *                    management, signal and relay connections and our FQDN,
 *                    address, interface type and WireGuard port (from the
 *                    recorder: nb_status_recorder_set_local()) and our own
 *                    key, interface name and Rosenpass settings (from the
 *                    setters below).
 *   @root/peers/N    org.freedesktop.NetworkManager.netbird.Peer, one per
 *                    peer of the recorder. N counts from 1 in the order keys
 *                    are first seen and stays with the key for the life of
 *                    the exporter, so a peer that leaves and comes back has
 *                    the same path.
 * The interfaces are data/org.freedesktop.NetworkManager.netbird.Status.xml.
 *
 * Only the properties named by the recorder's "peer-changed" mask are set,
 * and the gdbus-codegen skeletons emit PropertiesChanged only for values
 * that differ, once per main-loop turn per object. Empty strings stand for
 * the record's NULLs.
 *
 * NbStatusDbus does not own the bus name: the service does (it is the VPN
 * plugin's name). Access control is the bus policy's
 * (data/nm-netbird-service.conf): any user reads, root calls Refresh.
 *
 * Signals:
 *   "refresh-requested" (NbStatusDbus *): Refresh() was called; the owner
 *                       gathers ICE candidates again. Emitted from the
 *                       method's dispatch, after the reply is queued.
 */
#pragma once

#include <gio/gio.h>

#include "peer-status.h"

G_BEGIN_DECLS

#define NB_STATUS_DBUS_NAME "org.freedesktop.NetworkManager.netbird"
#define NB_STATUS_DBUS_ROOT "/org/freedesktop/NetworkManager/netbird"
#define NB_STATUS_DBUS_PEER_INTERFACE "org.freedesktop.NetworkManager.netbird.Peer"
#define NB_STATUS_DBUS_DAEMON_INTERFACE "org.freedesktop.NetworkManager.netbird.Daemon"

#define NB_TYPE_STATUS_DBUS (nb_status_dbus_get_type ())
G_DECLARE_FINAL_TYPE (NbStatusDbus, nb_status_dbus, NB, STATUS_DBUS, GObject)

/* Exports the object manager, the daemon object and an object for every
 * peer the recorder holds, on @connection, at once. Objects are unexported
 * when the NbStatusDbus is disposed. */
NbStatusDbus *nb_status_dbus_new (GDBusConnection  *connection,
                                  const char       *root,
                                  NbStatusRecorder *recorder);

GDBusObjectManagerServer *nb_status_dbus_get_manager (NbStatusDbus *self);

/* The object path of @key's peer object; NULL if the recorder has no such
 * peer (as of the last "peer-added"/"peer-removed" handled). */
const char *nb_status_dbus_get_peer_path (NbStatusDbus *self,
                                          const char   *key);

/* Our own fields on the daemon object (NULL = ""). */
void nb_status_dbus_set_public_key (NbStatusDbus *self,
                                    const char   *public_key);
/* e.g. "100.64.0.1/16". Also passed on to the recorder's own side
 * (nb_status_recorder_set_local()), which the Address mirrors. */
void nb_status_dbus_set_address    (NbStatusDbus *self,
                                    const char   *address);
void nb_status_dbus_set_interface  (NbStatusDbus *self,
                                    const char   *interface_name);
/* The exit node's network ID (NULL or "": none). */
void nb_status_dbus_set_exit_node  (NbStatusDbus *self,
                                    const char   *net_id);
/* e.g. "100.64.0.1:53" (NULL or "": no peer names served). */
void nb_status_dbus_set_peer_names_server (NbStatusDbus *self,
                                           const char   *address);
/* Also passed on to nb_status_recorder_set_rosenpass(), which words the
 * peers' "Quantum resistance" with them. */
void nb_status_dbus_set_rosenpass  (NbStatusDbus *self,
                                    gboolean      enabled,
                                    gboolean      permissive);

G_END_DECLS
