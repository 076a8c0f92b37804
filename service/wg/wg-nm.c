/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Why a batch queue: the engine sends endpoint and allowed-IP updates in
 * bursts (a map with many peers, ICE results), and every Reapply is two
 * round trips to NetworkManager and a full re-read of its device. Requests
 * that arrive while one Reapply is in flight are merged into the next, so
 * a burst costs one or two Reapplies, and the order of requests is kept.
 *
 * Why our own netlink reader: NetworkManager exposes no per-peer handshake
 * times or counters, and the engine's handshake watchers need them. The
 * reader is read-only and small (one request, a dump, nested attributes).
 */
#define G_LOG_DOMAIN "nb-wg-nm"

#include "config.h"

#include "wg-nm.h"

#include <errno.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/wireguard.h>
#include <netinet/in.h>
#include <sodium.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* The profile */

static gboolean
peer_fill (NMWireGuardPeer *peer, const NbWgPeerConfig *cfg, GError **error)
{
  char b64[NB_WG_KEY_B64_SIZE];

  if (cfg->endpoint != NULL)
    {
      g_autofree char *ep = nb_wg_endpoint_to_string (cfg->endpoint);
      if (ep == NULL || !nm_wireguard_peer_set_endpoint (peer, ep, FALSE))
        {
          g_set_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT, "invalid endpoint %s", ep ? ep : "");
          return FALSE;
        }
    }
  if (cfg->preshared_key != NULL)
    {
      if (nb_wg_key_is_zero (cfg->preshared_key))
        nm_wireguard_peer_set_preshared_key (peer, NULL, TRUE);
      else
        {
          nb_wg_key_to_base64_buf (cfg->preshared_key, b64);
          nm_wireguard_peer_set_preshared_key (peer, b64, TRUE);
          sodium_memzero (b64, sizeof b64);
        }
      nm_wireguard_peer_set_preshared_key_flags (peer, NM_SETTING_SECRET_FLAG_NONE);
    }
  nm_wireguard_peer_set_persistent_keepalive (peer, cfg->persistent_keepalive_s);

  if (cfg->replace_allowed_ips)
    nm_wireguard_peer_clear_allowed_ips (peer);
  for (guint i = 0; cfg->allowed_ips != NULL && cfg->allowed_ips[i] != NULL; i++)
    {
      g_autofree char *aip = nb_wg_allowed_ip_normalize (cfg->allowed_ips[i], error);
      gboolean present = FALSE;

      if (aip == NULL)
        return FALSE;
      for (guint j = 0; j < nm_wireguard_peer_get_allowed_ips_len (peer); j++)
        if (g_strcmp0 (nm_wireguard_peer_get_allowed_ip (peer, j, NULL), aip) == 0)
          present = TRUE;
      if (!present && !nm_wireguard_peer_append_allowed_ip (peer, aip, FALSE))
        {
          g_set_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT, "invalid allowed IP %s", aip);
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
nb_wg_nm_apply_peer (NMConnection *connection, const NbWgPeerConfig *cfg, GError **error)
{
  NMSettingWireGuard *s_wg = NM_SETTING_WIREGUARD (nm_connection_get_setting (connection, NM_TYPE_SETTING_WIREGUARD));
  g_autofree char *key = NULL;
  g_autoptr (GError) local = NULL;
  NMWireGuardPeer *existing;
  NMWireGuardPeer *peer;
  guint idx = 0;

  if (s_wg == NULL)
    {
      g_set_error_literal (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT, "not a WireGuard profile");
      return FALSE;
    }
  if (nb_wg_key_is_zero (&cfg->public_key))
    {
      g_set_error_literal (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT, "peer without a public key");
      return FALSE;
    }
  key = nb_wg_key_to_base64 (&cfg->public_key);
  existing = nm_setting_wireguard_get_peer_by_public_key (s_wg, key, &idx);
  if (existing == NULL && cfg->update_only)
    return TRUE;

  if (existing != NULL)
    peer = nm_wireguard_peer_new_clone (existing, TRUE);
  else
    {
      peer = nm_wireguard_peer_new ();
      if (!nm_wireguard_peer_set_public_key (peer, key, FALSE))
        {
          nm_wireguard_peer_unref (peer);
          g_set_error_literal (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT, "invalid peer public key");
          return FALSE;
        }
    }
  if (!peer_fill (peer, cfg, error) || !nm_wireguard_peer_is_valid (peer, TRUE, TRUE, &local))
    {
      if (local != NULL)
        g_set_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT, "peer %s: %s", key, local->message);
      nm_wireguard_peer_unref (peer);
      return FALSE;
    }
  nm_wireguard_peer_seal (peer);
  if (existing != NULL)
    nm_setting_wireguard_set_peer (s_wg, peer, idx);
  else
    nm_setting_wireguard_append_peer (s_wg, peer);
  nm_wireguard_peer_unref (peer);
  return TRUE;
}

gboolean
nb_wg_nm_remove_peer (NMConnection *connection, const NbWgKey *public_key)
{
  NMSettingWireGuard *s_wg = NM_SETTING_WIREGUARD (nm_connection_get_setting (connection, NM_TYPE_SETTING_WIREGUARD));
  g_autofree char *key = NULL;
  guint idx = 0;

  if (s_wg == NULL)
    return FALSE;
  key = nb_wg_key_to_base64 (public_key);
  if (nm_setting_wireguard_get_peer_by_public_key (s_wg, key, &idx) == NULL)
    return FALSE;
  return nm_setting_wireguard_remove_peer (s_wg, idx);
}

NMConnection *
nb_wg_nm_build_connection (const NbWgNmProfile *profile, GError **error)
{
  g_autoptr (NMConnection) connection = NULL;
  g_autofree char *uuid = NULL;
  g_autofree char *id = NULL;
  g_autoptr (GError) local = NULL;
  NMSetting *s_con, *s_wg, *s_ip4, *s_ip6;
  char b64[NB_WG_KEY_B64_SIZE];

  if (!nb_wg_interface_name_validate (profile->interface_name, error))
    return NULL;
  if (profile->private_key == NULL || nb_wg_key_is_zero (profile->private_key))
    {
      g_set_error_literal (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT, "no private key");
      return NULL;
    }
  if (profile->listen_port < 0 || profile->listen_port > 65535)
    {
      g_set_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT, "invalid listen port %d", profile->listen_port);
      return NULL;
    }

  uuid = profile->uuid ? g_strdup (profile->uuid) : nm_utils_uuid_generate ();
  id = profile->id ? g_strdup (profile->id) : g_strdup_printf ("netbird %s", profile->interface_name);
  connection = nm_simple_connection_new ();

  s_con = nm_setting_connection_new ();
  g_object_set (s_con,
                NM_SETTING_CONNECTION_ID, id,
                NM_SETTING_CONNECTION_UUID, uuid,
                NM_SETTING_CONNECTION_TYPE, NM_SETTING_WIREGUARD_SETTING_NAME,
                NM_SETTING_CONNECTION_INTERFACE_NAME, profile->interface_name,
                NM_SETTING_CONNECTION_AUTOCONNECT, FALSE,
                NULL);
  nm_connection_add_setting (connection, s_con);

  s_wg = nm_setting_wireguard_new ();
  nb_wg_key_to_base64_buf (profile->private_key, b64);
  g_object_set (s_wg,
                NM_SETTING_WIREGUARD_PRIVATE_KEY, b64,
                NM_SETTING_WIREGUARD_PRIVATE_KEY_FLAGS, NM_SETTING_SECRET_FLAG_NONE,
                NM_SETTING_WIREGUARD_LISTEN_PORT, (guint) profile->listen_port,
                NM_SETTING_WIREGUARD_FWMARK, profile->fwmark,
                NM_SETTING_WIREGUARD_MTU, profile->mtu,
                NM_SETTING_WIREGUARD_PEER_ROUTES, FALSE,
                NM_SETTING_WIREGUARD_IP4_AUTO_DEFAULT_ROUTE, NM_TERNARY_FALSE,
                NM_SETTING_WIREGUARD_IP6_AUTO_DEFAULT_ROUTE, NM_TERNARY_FALSE,
                NULL);
  sodium_memzero (b64, sizeof b64);
  nm_connection_add_setting (connection, s_wg);

  s_ip4 = nm_setting_ip4_config_new ();
  g_object_set (s_ip4, NM_SETTING_IP_CONFIG_METHOD, NM_SETTING_IP4_CONFIG_METHOD_DISABLED, NULL);
  nm_connection_add_setting (connection, s_ip4);
  s_ip6 = nm_setting_ip6_config_new ();
  g_object_set (s_ip6, NM_SETTING_IP_CONFIG_METHOD, NM_SETTING_IP6_CONFIG_METHOD_DISABLED, NULL);
  nm_connection_add_setting (connection, s_ip6);

  for (guint i = 0; i < profile->n_peers; i++)
    if (!nb_wg_nm_apply_peer (connection, &profile->peers[i], error))
      return NULL;

  /* NetworkManager normalises what it receives (adds the proxy setting);
   * normalise here so that what we send is what it applies. */
  if (!nm_connection_normalize (connection, NULL, NULL, &local))
    {
      g_set_error (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT, "WireGuard profile invalid: %s", local->message);
      return NULL;
    }
  return g_steal_pointer (&connection);
}

/* ------------------------------------------------------------------------ */
/* Generic netlink, read-only */

#define GENL_BUF_SIZE 65536

typedef struct {
  int fd;
  guint32 seq;
  guint8 *buf;
} Genl;

static void
genl_close (Genl *g)
{
  if (g->fd >= 0)
    close (g->fd);
  g->fd = -1;
  if (g->buf != NULL)
    {
      sodium_memzero (g->buf, GENL_BUF_SIZE);   /* dumps carry the private key */
      g_free (g->buf);
      g->buf = NULL;
    }
}

static gboolean
genl_open (Genl *g, GError **error)
{
  struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
  struct timeval tv = { .tv_sec = 2 };

  g->seq = (guint32) g_get_monotonic_time ();
  g->buf = NULL;
  g->fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
  if (g->fd < 0)
    {
      int saved = errno;
      g_set_error (error, NB_WG_ERROR, NB_WG_ERROR_IO, "generic netlink socket: %s", g_strerror (saved));
      return FALSE;
    }
  /* A guard only: the kernel answers from within sendmsg()/recvmsg(). */
  setsockopt (g->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (bind (g->fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    {
      int saved = errno;
      genl_close (g);
      g_set_error (error, NB_WG_ERROR, NB_WG_ERROR_IO, "generic netlink bind: %s", g_strerror (saved));
      return FALSE;
    }
  g->buf = g_malloc0 (GENL_BUF_SIZE);
  return TRUE;
}

/* One request with one string attribute. */
static gboolean
genl_send (Genl *g, guint16 type, guint16 flags, guint8 cmd, guint8 version,
           guint16 attr_type, const char *attr_str, GError **error)
{
  guint8 msg[256] = { 0 };
  struct nlmsghdr *nlh = (struct nlmsghdr *) msg;
  struct genlmsghdr *gh = (struct genlmsghdr *) NLMSG_DATA (nlh);
  struct nlattr *nla = (struct nlattr *) ((guint8 *) gh + GENL_HDRLEN);
  gsize slen = strlen (attr_str) + 1;
  struct sockaddr_nl dst = { .nl_family = AF_NETLINK };

  if (slen > 64)
    {
      g_set_error_literal (error, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT, "name too long");
      return FALSE;
    }
  nla->nla_type = attr_type;
  nla->nla_len = NLA_HDRLEN + slen;
  memcpy ((guint8 *) nla + NLA_HDRLEN, attr_str, slen);
  gh->cmd = cmd;
  gh->version = version;
  nlh->nlmsg_len = NLMSG_LENGTH (GENL_HDRLEN + NLA_ALIGN (nla->nla_len));
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  nlh->nlmsg_seq = ++g->seq;
  if (sendto (g->fd, msg, nlh->nlmsg_len, 0, (struct sockaddr *) &dst, sizeof dst) < 0)
    {
      int saved = errno;
      g_set_error (error, NB_WG_ERROR, NB_WG_ERROR_IO, "generic netlink send: %s", g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

typedef gboolean (*GenlMsgFunc) (const guint8 *payload, gsize len, gpointer data);

/* Reads answers to the last request until NLMSG_DONE, an error, or (not a
 * dump) the first answer. A netlink error is returned as -errno in
 * @out_errno with FALSE. */
static gboolean
genl_recv (Genl *g, gboolean dump, GenlMsgFunc func, gpointer data, int *out_errno, GError **error)
{
  *out_errno = 0;
  for (;;)
    {
      ssize_t n = recv (g->fd, g->buf, GENL_BUF_SIZE, 0);
      if (n < 0)
        {
          int saved = errno;
          if (saved == EINTR)
            continue;
          g_set_error (error, NB_WG_ERROR, saved == EAGAIN ? NB_WG_ERROR_TIMED_OUT : NB_WG_ERROR_IO,
                       "generic netlink receive: %s", g_strerror (saved));
          return FALSE;
        }
      for (struct nlmsghdr *nlh = (struct nlmsghdr *) g->buf; NLMSG_OK (nlh, (guint) n); nlh = NLMSG_NEXT (nlh, n))
        {
          if (nlh->nlmsg_seq != g->seq)
            continue;
          if (nlh->nlmsg_type == NLMSG_DONE)
            return TRUE;
          if (nlh->nlmsg_type == NLMSG_ERROR)
            {
              const struct nlmsgerr *err = NLMSG_DATA (nlh);
              if (nlh->nlmsg_len < NLMSG_LENGTH (sizeof *err))
                break;
              if (err->error == 0)
                return TRUE;   /* the ACK */
              *out_errno = -err->error;
              g_set_error (error, NB_WG_ERROR, NB_WG_ERROR_IO, "generic netlink: %s", g_strerror (-err->error));
              return FALSE;
            }
          if (nlh->nlmsg_len < NLMSG_LENGTH (GENL_HDRLEN))
            continue;
          if (!func ((const guint8 *) NLMSG_DATA (nlh) + GENL_HDRLEN,
                     nlh->nlmsg_len - NLMSG_LENGTH (GENL_HDRLEN), data))
            {
              g_set_error_literal (error, NB_WG_ERROR, NB_WG_ERROR_PROTOCOL, "malformed generic netlink answer");
              return FALSE;
            }
          if (!dump && !(nlh->nlmsg_flags & NLM_F_MULTI))
            return TRUE;
        }
    }
}

/* Walks the attributes in [p, p+len): func (type, data, len). */
#define NLA_FOREACH(nla, p, len) \
  for (const struct nlattr *nla = (const struct nlattr *) (p); \
       (gsize) ((const guint8 *) nla - (const guint8 *) (p)) + NLA_HDRLEN <= (len) \
       && nla->nla_len >= NLA_HDRLEN \
       && (gsize) ((const guint8 *) nla - (const guint8 *) (p)) + nla->nla_len <= (len); \
       nla = (const struct nlattr *) ((const guint8 *) nla + NLA_ALIGN (nla->nla_len)))

#define NLA_DATA_(nla) ((const guint8 *) (nla) + NLA_HDRLEN)
#define NLA_LEN_(nla) ((gsize) (nla)->nla_len - NLA_HDRLEN)
#define NLA_TYPE_(nla) ((nla)->nla_type & NLA_TYPE_MASK)

static gboolean
family_cb (const guint8 *p, gsize len, gpointer data)
{
  guint16 *id = data;

  NLA_FOREACH (nla, p, len)
    if (NLA_TYPE_ (nla) == CTRL_ATTR_FAMILY_ID && NLA_LEN_ (nla) >= 2)
      memcpy (id, NLA_DATA_ (nla), 2);
  return TRUE;
}

static gboolean
genl_resolve_wireguard (Genl *g, guint16 *out_id, GError **error)
{
  int err = 0;
  g_autoptr (GError) local = NULL;

  *out_id = 0;
  if (!genl_send (g, GENL_ID_CTRL, NLM_F_ACK, CTRL_CMD_GETFAMILY, 1, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME, error))
    return FALSE;
  if (!genl_recv (g, FALSE, family_cb, out_id, &err, &local))
    {
      if (err == ENOENT)
        g_set_error_literal (error, NB_WG_ERROR, NB_WG_ERROR_NOT_RUNNING,
                             "generic netlink family \"" WG_GENL_NAME "\" is unknown to the kernel "
                             "(no WireGuard support, or its module is not loaded)");
      else
        g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  if (*out_id == 0)
    {
      g_set_error_literal (error, NB_WG_ERROR, NB_WG_ERROR_PROTOCOL, "generic netlink: no family id in the answer");
      return FALSE;
    }
  return TRUE;
}

gboolean
nb_wg_nm_kernel_available (GError **error)
{
  Genl g = { .fd = -1 };
  guint16 id;
  gboolean ok;

  if (!genl_open (&g, error))
    return FALSE;
  ok = genl_resolve_wireguard (&g, &id, error);
  genl_close (&g);
  return ok;
}

static GInetSocketAddress *
sockaddr_parse (const guint8 *p, gsize len)
{
  struct sockaddr_storage ss = { 0 };

  if (len < sizeof (sa_family_t) || len > sizeof ss)
    return NULL;
  memcpy (&ss, p, len);
  if (ss.ss_family == AF_INET && len >= sizeof (struct sockaddr_in))
    ;
  else if (ss.ss_family == AF_INET6 && len >= sizeof (struct sockaddr_in6))
    ;
  else
    return NULL;
  return G_INET_SOCKET_ADDRESS (g_socket_address_new_from_native (&ss, len));
}

static void
allowed_ips_parse (NbWgPeerStats *peer, const guint8 *p, gsize len)
{
  NLA_FOREACH (entry, p, len)
    {
      guint16 family = 0;
      const guint8 *addr = NULL;
      gsize addr_len = 0;
      guint8 mask = 0;
      gboolean has_mask = FALSE;

      NLA_FOREACH (a, NLA_DATA_ (entry), NLA_LEN_ (entry))
        switch (NLA_TYPE_ (a))
          {
          case WGALLOWEDIP_A_FAMILY:
            if (NLA_LEN_ (a) >= 2)
              memcpy (&family, NLA_DATA_ (a), 2);
            break;
          case WGALLOWEDIP_A_IPADDR:
            addr = NLA_DATA_ (a);
            addr_len = NLA_LEN_ (a);
            break;
          case WGALLOWEDIP_A_CIDR_MASK:
            if (NLA_LEN_ (a) >= 1)
              {
                mask = *NLA_DATA_ (a);
                has_mask = TRUE;
              }
            break;
          default:
            break;
          }
      if (addr != NULL && has_mask
          && ((family == AF_INET && addr_len >= 4) || (family == AF_INET6 && addr_len >= 16)))
        {
          g_autoptr (GInetAddress) ia = g_inet_address_new_from_bytes (addr, family == AF_INET
                                                                        ? G_SOCKET_FAMILY_IPV4
                                                                        : G_SOCKET_FAMILY_IPV6);
          g_autofree char *text = g_inet_address_to_string (ia);
          g_ptr_array_add (peer->allowed_ips, g_strdup_printf ("%s/%u", text, mask));
        }
    }
}

static gboolean
device_cb (const guint8 *p, gsize len, gpointer data)
{
  NbWgStats *stats = data;

  NLA_FOREACH (nla, p, len)
    switch (NLA_TYPE_ (nla))
      {
      case WGDEVICE_A_PRIVATE_KEY:
        if (NLA_LEN_ (nla) == NB_WG_KEY_LEN)
          {
            static const guint8 zero[NB_WG_KEY_LEN] = { 0 };
            stats->has_private_key = sodium_memcmp (NLA_DATA_ (nla), zero, NB_WG_KEY_LEN) != 0;
          }
        break;
      case WGDEVICE_A_PUBLIC_KEY:
        if (NLA_LEN_ (nla) == NB_WG_KEY_LEN)
          memcpy (stats->public_key.bytes, NLA_DATA_ (nla), NB_WG_KEY_LEN);
        break;
      case WGDEVICE_A_LISTEN_PORT:
        if (NLA_LEN_ (nla) >= 2)
          memcpy (&stats->listen_port, NLA_DATA_ (nla), 2);
        break;
      case WGDEVICE_A_FWMARK:
        if (NLA_LEN_ (nla) >= 4)
          memcpy (&stats->fwmark, NLA_DATA_ (nla), 4);
        break;
      case WGDEVICE_A_PEERS:
        NLA_FOREACH (pn, NLA_DATA_ (nla), NLA_LEN_ (nla))
          {
            g_autoptr (NbWgPeerStats) peer = nb_wg_peer_stats_new ();
            gboolean has_key = FALSE;

            NLA_FOREACH (a, NLA_DATA_ (pn), NLA_LEN_ (pn))
              switch (NLA_TYPE_ (a))
                {
                case WGPEER_A_PUBLIC_KEY:
                  if (NLA_LEN_ (a) == NB_WG_KEY_LEN)
                    {
                      memcpy (peer->public_key.bytes, NLA_DATA_ (a), NB_WG_KEY_LEN);
                      has_key = TRUE;
                    }
                  break;
                case WGPEER_A_PRESHARED_KEY:
                  if (NLA_LEN_ (a) == NB_WG_KEY_LEN)
                    {
                      static const guint8 zero[NB_WG_KEY_LEN] = { 0 };
                      peer->has_preshared_key = sodium_memcmp (NLA_DATA_ (a), zero, NB_WG_KEY_LEN) != 0;
                    }
                  break;
                case WGPEER_A_ENDPOINT:
                  g_clear_object (&peer->endpoint);
                  peer->endpoint = sockaddr_parse (NLA_DATA_ (a), NLA_LEN_ (a));
                  break;
                case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
                  if (NLA_LEN_ (a) >= 2)
                    memcpy (&peer->persistent_keepalive_s, NLA_DATA_ (a), 2);
                  break;
                case WGPEER_A_LAST_HANDSHAKE_TIME:
                  if (NLA_LEN_ (a) >= 16)
                    {
                      gint64 ts[2];
                      memcpy (ts, NLA_DATA_ (a), 16);
                      peer->last_handshake_us = ts[0] * G_USEC_PER_SEC + ts[1] / 1000;
                    }
                  break;
                case WGPEER_A_RX_BYTES:
                  if (NLA_LEN_ (a) >= 8)
                    memcpy (&peer->rx_bytes, NLA_DATA_ (a), 8);
                  break;
                case WGPEER_A_TX_BYTES:
                  if (NLA_LEN_ (a) >= 8)
                    memcpy (&peer->tx_bytes, NLA_DATA_ (a), 8);
                  break;
                case WGPEER_A_ALLOWEDIPS:
                  allowed_ips_parse (peer, NLA_DATA_ (a), NLA_LEN_ (a));
                  break;
                default:
                  break;
                }
            if (!has_key)
              return FALSE;
            /* A peer split over two messages: the next message repeats the
             * key with the rest of its allowed IPs. */
            if (stats->peers->len > 0)
              {
                NbWgPeerStats *last = g_ptr_array_index (stats->peers, stats->peers->len - 1);
                if (nb_wg_key_equal (&last->public_key, &peer->public_key))
                  {
                    for (guint i = 0; i < peer->allowed_ips->len; i++)
                      g_ptr_array_add (last->allowed_ips, g_strdup (g_ptr_array_index (peer->allowed_ips, i)));
                    continue;
                  }
              }
            g_ptr_array_add (stats->peers, g_steal_pointer (&peer));
          }
        break;
      default:
        break;
      }
  return TRUE;
}

NbWgStats *
nb_wg_nm_read_kernel_stats (const char *ifname, GError **error)
{
  Genl g = { .fd = -1 };
  g_autoptr (NbWgStats) stats = NULL;
  g_autoptr (GError) local = NULL;
  guint16 family;
  int err = 0;

  if (!nb_wg_interface_name_validate (ifname, error))
    return NULL;
  if (!genl_open (&g, error))
    return NULL;
  if (!genl_resolve_wireguard (&g, &family, error)
      || !genl_send (&g, family, NLM_F_DUMP | NLM_F_ACK, WG_CMD_GET_DEVICE, WG_GENL_VERSION,
                     WGDEVICE_A_IFNAME, ifname, error))
    {
      genl_close (&g);
      return NULL;
    }
  stats = nb_wg_stats_new ();
  if (!genl_recv (&g, TRUE, device_cb, stats, &err, &local))
    {
      genl_close (&g);
      if (err == ENODEV || err == EOPNOTSUPP || err == ENOENT)
        g_set_error (error, NB_WG_ERROR, NB_WG_ERROR_NOT_RUNNING, "no WireGuard device %s", ifname);
      else
        g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
  genl_close (&g);
  return g_steal_pointer (&stats);
}

/* ------------------------------------------------------------------------ */
/* The backend */

typedef enum {
  OP_SET_DEVICE,
  OP_SET_PEER,
  OP_REMOVE_PEER,
} OpKind;

typedef struct {
  OpKind kind;
  GTask *task;
  NbWgKey key;                 /* private key (set_device) or peer key */
  gboolean has_private_key;
  int listen_port;
  /* set_peer: owned copies */
  NbWgPeerConfig peer;
  GInetSocketAddress *endpoint;
  NbWgKey *preshared_key;
  char **allowed_ips;
} Op;

static void
op_free (Op *op)
{
  nb_wg_key_clear (&op->key);
  g_clear_object (&op->endpoint);
  g_clear_pointer (&op->preshared_key, nb_wg_key_free);
  g_strfreev (op->allowed_ips);
  g_clear_object (&op->task);
  g_free (op);
}

struct _NbWgNm {
  GObject parent_instance;

  NMClient *client;
  char *ifname;
  char *connection_id;
  guint32 mtu;

  NMActiveConnection *active;
  gulong active_state_id;
  GTask *activate_task;        /* the first set_device */
  guint activate_timeout_id;
  gboolean stopping;
  gboolean dead;

  GQueue queue;                /* Op *, waiting */
  GPtrArray *batch;            /* Op *, in flight */
  guint retries;
  GCancellable *cancellable;
};

enum {
  SIGNAL_DIED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void nb_wg_nm_backend_init (NbWgBackendInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NbWgNm, nb_wg_nm, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (NB_TYPE_WG_BACKEND, nb_wg_nm_backend_init))

static NMDevice *
active_device (NbWgNm *self)
{
  const GPtrArray *devices;

  if (self->active == NULL)
    return NULL;
  devices = nm_active_connection_get_devices (self->active);
  return devices != NULL && devices->len > 0 ? g_ptr_array_index (devices, 0) : NULL;
}

static void
fail_ops (GPtrArray *ops, const GError *error)
{
  for (guint i = 0; i < ops->len; i++)
    {
      Op *op = g_ptr_array_index (ops, i);
      if (op->task != NULL)
        g_task_return_error (op->task, g_error_copy (error));
    }
}

static void process_queue (NbWgNm *self);

static void
drop_active (NbWgNm *self)
{
  if (self->active != NULL)
    g_clear_signal_handler (&self->active_state_id, self->active);
  g_clear_object (&self->active);
}

static void
activate_done (NbWgNm *self, GError *error)
{
  GTask *task = g_steal_pointer (&self->activate_task);

  g_clear_handle_id (&self->activate_timeout_id, g_source_remove);
  if (task == NULL)
    {
      g_clear_error (&error);
      return;
    }
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);
  /* Requests queued behind the activation go now (or fail). */
  process_queue (self);
}

static void
on_active_state_changed (NMActiveConnection *active, guint state, guint reason, gpointer data)
{
  NbWgNm *self = data;

  if (state == NM_ACTIVE_CONNECTION_STATE_ACTIVATED && self->activate_task != NULL)
    {
      g_message ("WireGuard device %s is up (NetworkManager profile %s)", self->ifname,
                 nm_active_connection_get_uuid (active));
      activate_done (self, NULL);
    }
  else if (state >= NM_ACTIVE_CONNECTION_STATE_DEACTIVATING)
    {
      g_autoptr (GError) error = g_error_new (NB_WG_ERROR, NB_WG_ERROR_DIED,
                                              "NetworkManager deactivated the WireGuard device %s (reason %u)",
                                              self->ifname, reason);
      drop_active (self);
      if (self->activate_task != NULL)
        {
          activate_done (self, g_error_copy (error));
          return;
        }
      if (!self->stopping && !self->dead)
        {
          self->dead = TRUE;
          g_warning ("%s", error->message);
          g_signal_emit (self, signals[SIGNAL_DIED], 0, error);
        }
    }
}

static gboolean
activate_timeout_cb (gpointer data)
{
  NbWgNm *self = data;

  self->activate_timeout_id = 0;
  activate_done (self, g_error_new (NB_WG_ERROR, NB_WG_ERROR_TIMED_OUT,
                                    "NetworkManager did not activate the WireGuard device %s within %u s",
                                    self->ifname, NB_WG_NM_ACTIVATE_TIMEOUT_MS / 1000));
  return G_SOURCE_REMOVE;
}

static void
add_and_activate_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (NbWgNm) self = data;
  g_autoptr (GError) error = NULL;
  NMActiveConnection *active;

  active = nm_client_add_and_activate_connection2_finish (NM_CLIENT (source), result, NULL, &error);
  if (active == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        activate_done (self, g_error_new (NB_WG_ERROR, NB_WG_ERROR_REFUSED,
                                          "NetworkManager refused the WireGuard device %s: %s",
                                          self->ifname, error->message));
      else
        activate_done (self, g_steal_pointer (&error));
      return;
    }
  drop_active (self);
  self->active = active;
  self->active_state_id = g_signal_connect (active, "state-changed", G_CALLBACK (on_active_state_changed), self);
  if (self->activate_task == NULL || self->stopping)
    {
      /* Stopped meanwhile: take it down again. */
      nm_client_deactivate_connection_async (self->client, active, NULL, NULL, NULL);
      return;
    }
  if (nm_active_connection_get_state (active) == NM_ACTIVE_CONNECTION_STATE_ACTIVATED)
    on_active_state_changed (active, NM_ACTIVE_CONNECTION_STATE_ACTIVATED, 0, self);
  else if (nm_active_connection_get_state (active) >= NM_ACTIVE_CONNECTION_STATE_DEACTIVATING)
    on_active_state_changed (active, nm_active_connection_get_state (active), 0, self);
}

static void
activate (NbWgNm *self, Op *op)
{
  g_autoptr (NMConnection) connection = NULL;
  g_autoptr (GError) error = NULL;
  GVariantBuilder options;
  NbWgNmProfile profile = {
    .id = self->connection_id,
    .interface_name = self->ifname,
    .private_key = &op->key,
    .listen_port = op->listen_port < 0 ? 0 : op->listen_port,
    .mtu = self->mtu,
  };

  connection = nb_wg_nm_build_connection (&profile, &error);
  if (connection == NULL)
    {
      g_task_return_error (op->task, g_steal_pointer (&error));
      op_free (op);
      return;
    }
  self->activate_task = g_steal_pointer (&op->task);
  op_free (op);

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&options, "{sv}", "persist", g_variant_new_string ("volatile"));
  g_variant_builder_add (&options, "{sv}", "bind-activation", g_variant_new_string ("dbus-client"));
  self->activate_timeout_id = g_timeout_add (NB_WG_NM_ACTIVATE_TIMEOUT_MS, activate_timeout_cb, self);
  g_debug ("activating WireGuard device %s through NetworkManager", self->ifname);
  nm_client_add_and_activate_connection2 (self->client, connection, NULL, NULL,
                                          g_variant_builder_end (&options), self->cancellable,
                                          add_and_activate_cb, g_object_ref (self));
}

static gboolean
op_apply (Op *op, NMConnection *connection, GError **error)
{
  NMSettingWireGuard *s_wg = NM_SETTING_WIREGUARD (nm_connection_get_setting (connection, NM_TYPE_SETTING_WIREGUARD));

  if (s_wg == NULL)
    {
      g_set_error_literal (error, NB_WG_ERROR, NB_WG_ERROR_PROTOCOL, "the applied connection is not WireGuard");
      return FALSE;
    }
  switch (op->kind)
    {
    case OP_SET_DEVICE:
      if (op->has_private_key)
        {
          char b64[NB_WG_KEY_B64_SIZE];
          nb_wg_key_to_base64_buf (&op->key, b64);
          g_object_set (s_wg, NM_SETTING_WIREGUARD_PRIVATE_KEY, b64, NULL);
          sodium_memzero (b64, sizeof b64);
        }
      if (op->listen_port != NB_WG_LISTEN_PORT_UNCHANGED)
        g_object_set (s_wg, NM_SETTING_WIREGUARD_LISTEN_PORT, (guint) op->listen_port, NULL);
      return TRUE;
    case OP_SET_PEER:
      return nb_wg_nm_apply_peer (connection, &op->peer, error);
    case OP_REMOVE_PEER:
      nb_wg_nm_remove_peer (connection, &op->key);
      return TRUE;
    }
  return TRUE;
}

static void
reapply_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (NbWgNm) self = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) batch = g_steal_pointer (&self->batch);

  if (!nm_device_reapply_finish (NM_DEVICE (source), result, &error))
    {
      if (g_error_matches (error, NM_DEVICE_ERROR, NM_DEVICE_ERROR_VERSION_ID_MISMATCH) && self->retries < 3)
        {
          /* Someone changed the device meanwhile: again, in order. */
          self->retries++;
          for (guint i = batch->len; i > 0; i--)
            g_queue_push_head (&self->queue, g_ptr_array_steal_index (batch, i - 1));
          process_queue (self);
          return;
        }
      g_autoptr (GError) wrapped = NULL;
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        wrapped = g_error_copy (error);
      else
        wrapped = g_error_new (NB_WG_ERROR, NB_WG_ERROR_REFUSED, "NetworkManager Reapply on %s: %s",
                               self->ifname, error->message);
      fail_ops (batch, wrapped);
    }
  else
    for (guint i = 0; i < batch->len; i++)
      {
        Op *op = g_ptr_array_index (batch, i);
        if (op->task != NULL)
          g_task_return_boolean (op->task, TRUE);
      }
  self->retries = 0;
  process_queue (self);
}

static void
applied_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (NbWgNm) self = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (NMConnection) connection = NULL;
  guint64 version_id = 0;
  GPtrArray *batch = self->batch;

  connection = nm_device_get_applied_connection_finish (NM_DEVICE (source), result, &version_id, &error);
  if (connection == NULL)
    {
      g_autoptr (GError) wrapped = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
                                   ? g_error_copy (error)
                                   : g_error_new (NB_WG_ERROR, NB_WG_ERROR_NOT_RUNNING,
                                                  "WireGuard device %s: %s", self->ifname, error->message);
      fail_ops (batch, wrapped);
      g_clear_pointer (&self->batch, g_ptr_array_unref);
      process_queue (self);
      return;
    }

  /* Each request either applies whole or fails alone (the connection is
   * modified only by requests that succeed). */
  for (guint i = 0; i < batch->len; i++)
    {
      Op *op = g_ptr_array_index (batch, i);
      g_autoptr (GError) op_error = NULL;

      if (!op_apply (op, connection, &op_error))
        {
          g_task_return_error (op->task, g_steal_pointer (&op_error));
          g_clear_object (&op->task);
        }
    }
  nm_device_reapply_async (NM_DEVICE (source), connection, version_id, 0, self->cancellable,
                           reapply_cb, g_object_ref (self));
}

static void
process_queue (NbWgNm *self)
{
  NMDevice *device;

  if (self->batch != NULL || self->activate_task != NULL || g_queue_is_empty (&self->queue)
      || g_cancellable_is_cancelled (self->cancellable))
    return;

  if (self->active == NULL)
    {
      Op *op = g_queue_peek_head (&self->queue);
      if (op->kind == OP_SET_DEVICE && !self->dead && !self->stopping && op->has_private_key)
        {
          activate (self, g_queue_pop_head (&self->queue));
          return;
        }
    }

  device = active_device (self);
  self->batch = g_ptr_array_new_with_free_func ((GDestroyNotify) op_free);
  while (!g_queue_is_empty (&self->queue))
    g_ptr_array_add (self->batch, g_queue_pop_head (&self->queue));

  if (device == NULL || self->dead || self->stopping)
    {
      g_autoptr (GError) error = g_error_new (NB_WG_ERROR, NB_WG_ERROR_NOT_RUNNING,
                                              "WireGuard device %s is not up", self->ifname);
      g_autoptr (GPtrArray) batch = g_steal_pointer (&self->batch);
      fail_ops (batch, error);
      return;
    }
  nm_device_get_applied_connection_async (device, 0, self->cancellable, applied_cb, g_object_ref (self));
}

static Op *
op_new (NbWgNm *self, OpKind kind, GCancellable *cancellable, GAsyncReadyCallback callback,
        gpointer user_data, gpointer tag)
{
  Op *op = g_new0 (Op, 1);

  op->kind = kind;
  op->task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (op->task, tag);
  return op;
}

static void
enqueue (NbWgNm *self, Op *op)
{
  g_queue_push_tail (&self->queue, op);
  process_queue (self);
}

static const char *
nm_get_interface_name (NbWgBackend *backend)
{
  return NB_WG_NM (backend)->ifname;
}

static void
nm_set_device (NbWgBackend *backend, const NbWgKey *private_key, int listen_port,
               GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  NbWgNm *self = NB_WG_NM (backend);
  Op *op = op_new (self, OP_SET_DEVICE, cancellable, callback, user_data, nm_set_device);

  if (listen_port != NB_WG_LISTEN_PORT_UNCHANGED && (listen_port < 0 || listen_port > 65535))
    {
      g_task_return_new_error (op->task, NB_WG_ERROR, NB_WG_ERROR_INVALID_ARGUMENT, "invalid listen port %d", listen_port);
      op_free (op);
      return;
    }
  if (private_key != NULL)
    {
      op->key = *private_key;
      op->has_private_key = TRUE;
    }
  op->listen_port = listen_port;
  enqueue (self, op);
}

static void
nm_set_peer (NbWgBackend *backend, const NbWgPeerConfig *peer, GCancellable *cancellable,
             GAsyncReadyCallback callback, gpointer user_data)
{
  NbWgNm *self = NB_WG_NM (backend);
  Op *op = op_new (self, OP_SET_PEER, cancellable, callback, user_data, nm_set_peer);

  op->peer = *peer;
  op->endpoint = peer->endpoint ? g_object_ref (peer->endpoint) : NULL;
  op->peer.endpoint = op->endpoint;
  op->preshared_key = peer->preshared_key ? nb_wg_key_dup (peer->preshared_key) : NULL;
  op->peer.preshared_key = op->preshared_key;
  op->allowed_ips = peer->allowed_ips ? g_strdupv ((char **) peer->allowed_ips) : NULL;
  op->peer.allowed_ips = (const char * const *) op->allowed_ips;
  enqueue (self, op);
}

static void
nm_remove_peer (NbWgBackend *backend, const NbWgKey *public_key, GCancellable *cancellable,
                GAsyncReadyCallback callback, gpointer user_data)
{
  NbWgNm *self = NB_WG_NM (backend);
  Op *op = op_new (self, OP_REMOVE_PEER, cancellable, callback, user_data, nm_remove_peer);

  op->key = *public_key;
  enqueue (self, op);
}

static gboolean
nm_op_finish (NbWgBackend *backend, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, backend), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
nm_get_stats (NbWgBackend *backend, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  NbWgNm *self = NB_WG_NM (backend);
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr (GError) error = NULL;
  NbWgStats *stats;

  g_task_set_source_tag (task, nm_get_stats);
  if (self->active == NULL || self->dead)
    {
      g_task_return_new_error (task, NB_WG_ERROR, NB_WG_ERROR_NOT_RUNNING,
                               "WireGuard device %s is not up", self->ifname);
      return;
    }
  stats = nb_wg_nm_read_kernel_stats (self->ifname, &error);
  if (stats == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, stats, (GDestroyNotify) nb_wg_stats_free);
}

static NbWgStats *
nm_get_stats_finish (NbWgBackend *backend, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, backend), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static NbWgBackendKind
nm_get_kind (NbWgBackend *backend)
{
  return NB_WG_BACKEND_KIND_KERNEL;
}

static void
nb_wg_nm_backend_init (NbWgBackendInterface *iface)
{
  iface->get_interface_name = nm_get_interface_name;
  iface->get_kind = nm_get_kind;
  iface->set_device = nm_set_device;
  iface->set_device_finish = nm_op_finish;
  iface->set_peer = nm_set_peer;
  iface->set_peer_finish = nm_op_finish;
  iface->remove_peer = nm_remove_peer;
  iface->remove_peer_finish = nm_op_finish;
  iface->get_stats = nm_get_stats;
  iface->get_stats_finish = nm_get_stats_finish;
}

/* ------------------------------------------------------------------------ */
/* Stop */

typedef struct {
  NMActiveConnection *active;
  gulong state_id;
  guint timeout_id;
} StopData;

static void
stop_data_free (StopData *d)
{
  if (d->active != NULL)
    g_clear_signal_handler (&d->state_id, d->active);
  g_clear_object (&d->active);
  g_clear_handle_id (&d->timeout_id, g_source_remove);
  g_free (d);
}

static void
stop_complete (GTask *task, GError *error)
{
  StopData *d = g_task_get_task_data (task);

  if (d->active != NULL)
    g_clear_signal_handler (&d->state_id, d->active);
  g_clear_handle_id (&d->timeout_id, g_source_remove);
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
stop_state_cb (NMActiveConnection *active, guint state, guint reason, gpointer data)
{
  GTask *task = data;

  if (state >= NM_ACTIVE_CONNECTION_STATE_DEACTIVATED)
    {
      StopData *d = g_task_get_task_data (task);
      g_clear_signal_handler (&d->state_id, d->active);
      stop_complete (task, NULL);
      g_object_unref (task);
    }
}

static gboolean
stop_timeout_cb (gpointer data)
{
  GTask *task = data;
  StopData *d = g_task_get_task_data (task);

  d->timeout_id = 0;
  if (d->active != NULL && d->state_id != 0)
    {
      g_clear_signal_handler (&d->state_id, d->active);
      stop_complete (task, g_error_new (NB_WG_ERROR, NB_WG_ERROR_TIMED_OUT,
                                        "NetworkManager did not take the WireGuard device down in time"));
      g_object_unref (task);   /* the state handler's reference */
    }
  return G_SOURCE_REMOVE;
}

static void
deactivate_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GTask) task = data;
  g_autoptr (GError) error = NULL;

  if (!nm_client_deactivate_connection_finish (NM_CLIENT (source), result, &error))
    {
      StopData *d = g_task_get_task_data (task);
      /* Already gone is fine. */
      g_debug ("deactivate: %s", error->message);
      if (d->active != NULL && d->state_id != 0)
        {
          g_clear_signal_handler (&d->state_id, d->active);
          stop_complete (task, NULL);
          g_object_unref (task);   /* the state handler's reference */
        }
    }
}

void
nb_wg_nm_stop_async (NbWgNm *self, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  StopData *d = g_new0 (StopData, 1);
  g_autoptr (GError) error = g_error_new (NB_WG_ERROR, NB_WG_ERROR_NOT_RUNNING, "stopped");

  g_task_set_source_tag (task, nb_wg_nm_stop_async);
  g_task_set_task_data (task, d, (GDestroyNotify) stop_data_free);
  self->stopping = TRUE;

  if (self->activate_task != NULL)
    activate_done (self, g_error_copy (error));
  if (!g_queue_is_empty (&self->queue))
    {
      g_autoptr (GPtrArray) ops = g_ptr_array_new_with_free_func ((GDestroyNotify) op_free);
      while (!g_queue_is_empty (&self->queue))
        g_ptr_array_add (ops, g_queue_pop_head (&self->queue));
      fail_ops (ops, error);
    }

  if (self->active == NULL
      || nm_active_connection_get_state (self->active) >= NM_ACTIVE_CONNECTION_STATE_DEACTIVATED)
    {
      drop_active (self);
      g_task_return_boolean (task, TRUE);
      return;
    }
  d->active = g_object_ref (self->active);
  drop_active (self);
  d->state_id = g_signal_connect (d->active, "state-changed", G_CALLBACK (stop_state_cb), g_object_ref (task));
  d->timeout_id = g_timeout_add (NB_WG_NM_STOP_TIMEOUT_MS, stop_timeout_cb, task);
  g_message ("taking WireGuard device %s down", self->ifname);
  nm_client_deactivate_connection_async (self->client, d->active, NULL, deactivate_cb, g_object_ref (task));
}

gboolean
nb_wg_nm_stop_finish (NbWgNm *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ------------------------------------------------------------------------ */

NMActiveConnection *
nb_wg_nm_get_active_connection (NbWgNm *self)
{
  g_return_val_if_fail (NB_IS_WG_NM (self), NULL);
  return self->active;
}

void
nb_wg_nm_set_connection_id (NbWgNm *self, const char *id)
{
  g_return_if_fail (NB_IS_WG_NM (self));
  g_free (self->connection_id);
  self->connection_id = g_strdup (id);
}

void
nb_wg_nm_set_mtu (NbWgNm *self, guint32 mtu)
{
  g_return_if_fail (NB_IS_WG_NM (self));
  self->mtu = mtu;
}

NbWgNm *
nb_wg_nm_new (NMClient *client, const char *ifname, GError **error)
{
  NbWgNm *self;

  g_return_val_if_fail (NM_IS_CLIENT (client), NULL);
  if (!nb_wg_interface_name_validate (ifname, error))
    return NULL;
  self = g_object_new (NB_TYPE_WG_NM, NULL);
  self->client = g_object_ref (client);
  self->ifname = g_strdup (ifname);
  return self;
}

static void
nb_wg_nm_dispose (GObject *object)
{
  NbWgNm *self = NB_WG_NM (object);

  g_cancellable_cancel (self->cancellable);
  if (self->activate_task != NULL)
    activate_done (self, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "disposed"));
  if (self->active != NULL && self->client != NULL
      && nm_active_connection_get_state (self->active) < NM_ACTIVE_CONNECTION_STATE_DEACTIVATING)
    nm_client_deactivate_connection_async (self->client, self->active, NULL, NULL, NULL);
  drop_active (self);
  while (!g_queue_is_empty (&self->queue))
    {
      Op *op = g_queue_pop_head (&self->queue);
      g_task_return_new_error (op->task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "disposed");
      op_free (op);
    }
  g_clear_object (&self->client);
  G_OBJECT_CLASS (nb_wg_nm_parent_class)->dispose (object);
}

static void
nb_wg_nm_finalize (GObject *object)
{
  NbWgNm *self = NB_WG_NM (object);

  g_clear_pointer (&self->batch, g_ptr_array_unref);
  g_clear_object (&self->cancellable);
  g_free (self->ifname);
  g_free (self->connection_id);
  G_OBJECT_CLASS (nb_wg_nm_parent_class)->finalize (object);
}

static void
nb_wg_nm_class_init (NbWgNmClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_wg_nm_dispose;
  object_class->finalize = nb_wg_nm_finalize;

  signals[SIGNAL_DIED] = g_signal_new ("died", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                       0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
}

static void
nb_wg_nm_init (NbWgNm *self)
{
  g_queue_init (&self->queue);
  self->cancellable = g_cancellable_new ();
}
