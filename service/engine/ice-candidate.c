/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "nb-ice"

#include "config.h"

#include "ice-candidate.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>

#include <sodium.h>

#include "nb-sodium.h"
#include "worker-ice.h"

const char *const nb_ice_default_interface_blacklist[] = {
  "wt0", "wt", "utun", "tun0", "zt", "ZeroTier", "wg", "ts",
  "Tailscale", "tailscale", "docker", "veth", "br-", "lo",
  NULL,
};

static const char ice_alpha[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

static void
random_alpha (char *out, gsize len)
{
  for (gsize i = 0; i < len; i++)
    out[i] = ice_alpha[randombytes_uniform (sizeof ice_alpha - 1)];
  out[len] = '\0';
}

void
nb_ice_generate_credentials (char *ufrag, char *pwd)
{
  nb_sodium_init ();
  random_alpha (ufrag, NB_ICE_UFRAG_LEN);
  random_alpha (pwd, NB_ICE_PWD_LEN);
}

gboolean
nb_ice_credential_is_valid (const char *s)
{
  gsize n = 0;

  if (s == NULL)
    return FALSE;
  for (; s[n] != '\0'; n++)
    {
      if (n >= NB_ICE_CREDENTIAL_MAX_LEN)
        return FALSE;
      if (!g_ascii_isalnum (s[n]) && s[n] != '+' && s[n] != '/')
        return FALSE;
    }
  return n > 0;
}

/* ------------------------------------------------------------------------ */
/* STUN/TURN URIs */

void
nb_ice_uri_free (NbIceUri *uri)
{
  if (uri == NULL)
    return;
  g_free (uri->host);
  g_free (uri);
}

static gboolean
parse_port (const char *s, gsize len, guint16 *port)
{
  guint v = 0;

  if (len == 0 || len > 5)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      if (!g_ascii_isdigit (s[i]))
        return FALSE;
      v = v * 10 + (guint) (s[i] - '0');
    }
  if (v == 0 || v > 65535)
    return FALSE;
  *port = (guint16) v;
  return TRUE;
}

static gboolean
host_is_valid (const char *host)
{
  if (*host == '\0' || strlen (host) > 253)
    return FALSE;
  for (const char *p = host; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '.' && *p != '_')
      return FALSE;
  return TRUE;
}

NbIceUri *
nb_ice_uri_parse (const char *text, GError **error)
{
  g_autoptr (NbIceUri) uri = g_new0 (NbIceUri, 1);
  const char *colon, *rest, *query, *host_end, *port_start = NULL;
  g_autofree char *scheme = NULL;
  gsize hostport_len;

  if (text == NULL || !g_utf8_validate (text, -1, NULL))
    goto bad;
  colon = strchr (text, ':');
  if (colon == NULL)
    goto bad;
  scheme = g_ascii_strdown (text, colon - text);
  if (g_str_equal (scheme, "stun"))
    uri->scheme = NB_ICE_URI_STUN;
  else if (g_str_equal (scheme, "stuns"))
    uri->scheme = NB_ICE_URI_STUNS;
  else if (g_str_equal (scheme, "turn"))
    uri->scheme = NB_ICE_URI_TURN;
  else if (g_str_equal (scheme, "turns"))
    uri->scheme = NB_ICE_URI_TURNS;
  else
    goto bad;
  uri->port = (uri->scheme == NB_ICE_URI_STUNS || uri->scheme == NB_ICE_URI_TURNS)
                ? NB_ICE_DEFAULT_STUNS_PORT : NB_ICE_DEFAULT_STUN_PORT;
  uri->transport = (uri->scheme == NB_ICE_URI_STUNS || uri->scheme == NB_ICE_URI_TURNS)
                     ? NB_ICE_URI_TRANSPORT_TCP : NB_ICE_URI_TRANSPORT_UDP;

  rest = colon + 1;
  if (g_str_has_prefix (rest, "//"))   /* "stun://host" is not RFC 7064, but seen */
    rest += 2;
  query = strchr (rest, '?');
  hostport_len = query ? (gsize) (query - rest) : strlen (rest);

  if (hostport_len > 0 && rest[0] == '[')
    {
      g_autofree char *literal = NULL;
      g_autoptr (GInetAddress) addr = NULL;

      host_end = memchr (rest, ']', hostport_len);
      if (host_end == NULL)
        goto bad;
      literal = g_strndup (rest + 1, host_end - rest - 1);
      addr = g_inet_address_new_from_string (literal);
      if (addr == NULL || g_inet_address_get_family (addr) != G_SOCKET_FAMILY_IPV6)
        goto bad;
      uri->host = g_steal_pointer (&literal);
      if (host_end + 1 < rest + hostport_len)
        {
          if (host_end[1] != ':')
            goto bad;
          port_start = host_end + 2;
        }
    }
  else
    {
      host_end = memchr (rest, ':', hostport_len);
      if (host_end == NULL)
        host_end = rest + hostport_len;
      else
        port_start = host_end + 1;
      uri->host = g_strndup (rest, host_end - rest);
      if (!host_is_valid (uri->host))
        goto bad;
    }
  if (port_start != NULL
      && !parse_port (port_start, rest + hostport_len - port_start, &uri->port))
    goto bad;

  if (query != NULL)
    {
      const char *q = query + 1;

      if (uri->scheme == NB_ICE_URI_STUN || uri->scheme == NB_ICE_URI_STUNS)
        goto bad;   /* RFC 7064: no query for STUN */
      if (g_ascii_strcasecmp (q, "transport=udp") == 0)
        uri->transport = NB_ICE_URI_TRANSPORT_UDP;
      else if (g_ascii_strcasecmp (q, "transport=tcp") == 0)
        uri->transport = NB_ICE_URI_TRANSPORT_TCP;
      else
        goto bad;
    }
  return g_steal_pointer (&uri);

bad:
  g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_INVALID,
               "not a STUN/TURN URI: \"%s\"", text ? text : "(null)");
  return NULL;
}

gboolean
nb_ice_uri_same_server (const NbIceUri *a, const NbIceUri *b)
{
  return a->port == b->port && g_ascii_strcasecmp (a->host, b->host) == 0;
}

/* ------------------------------------------------------------------------ */
/* Interfaces */

gboolean
nb_ice_interface_is_filtered (const char *name, const char *const *blacklist)
{
  if (blacklist == NULL)
    blacklist = nb_ice_default_interface_blacklist;
  if (blacklist[0] == NULL)
    return FALSE;
  if (g_str_has_prefix (name, "lo"))
    return TRUE;
  for (; *blacklist; blacklist++)
    if (**blacklist != '\0' && g_str_has_prefix (name, *blacklist))
      return TRUE;
  return FALSE;
}

static gboolean
str_in_array (GPtrArray *array, const char *s)
{
  for (guint i = 0; i < array->len; i++)
    if (g_str_equal (g_ptr_array_index (array, i), s))
      return TRUE;
  return FALSE;
}

GPtrArray *
nb_ice_local_addresses (const char *const *blacklist, gboolean ipv6)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  struct ifaddrs *ifas = NULL;

  if (getifaddrs (&ifas) != 0)
    {
      g_message ("cannot list local interfaces: %s", g_strerror (errno));
      return out;
    }
  for (struct ifaddrs *ifa = ifas; ifa; ifa = ifa->ifa_next)
    {
      g_autoptr (GSocketAddress) sa = NULL;
      GInetAddress *ia;
      char *text;

      if (ifa->ifa_addr == NULL || ifa->ifa_name == NULL || !(ifa->ifa_flags & IFF_UP))
        continue;
      if (ifa->ifa_addr->sa_family == AF_INET)
        sa = g_socket_address_new_from_native (ifa->ifa_addr, sizeof (struct sockaddr_in));
      else if (ifa->ifa_addr->sa_family == AF_INET6 && ipv6)
        sa = g_socket_address_new_from_native (ifa->ifa_addr, sizeof (struct sockaddr_in6));
      else
        continue;
      if (sa == NULL || !G_IS_INET_SOCKET_ADDRESS (sa))
        continue;
      if (nb_ice_interface_is_filtered (ifa->ifa_name, blacklist))
        continue;
      ia = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (sa));
      if (g_inet_address_get_family (ia) == G_SOCKET_FAMILY_IPV6
          && (g_inet_address_get_is_link_local (ia) || g_inet_address_get_is_multicast (ia)))
        continue;
      text = g_inet_address_to_string (ia);
      if (str_in_array (out, text) || out->len >= NICE_CANDIDATE_MAX_LOCAL_ADDRESSES)
        {
          g_free (text);
          continue;
        }
      g_ptr_array_add (out, text);
    }
  freeifaddrs (ifas);
  return out;
}

/* ------------------------------------------------------------------------ */
/* Candidates */

NbSignalCandidateType
nb_ice_candidate_type_from_nice (NiceCandidateType type)
{
  switch (type)
    {
    case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE: return NB_SIGNAL_CANDIDATE_SRFLX;
    case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE: return NB_SIGNAL_CANDIDATE_PRFLX;
    case NICE_CANDIDATE_TYPE_RELAYED: return NB_SIGNAL_CANDIDATE_RELAY;
    case NICE_CANDIDATE_TYPE_HOST:
    default: return NB_SIGNAL_CANDIDATE_HOST;
    }
}

NiceCandidateType
nb_ice_candidate_type_to_nice (NbSignalCandidateType type)
{
  switch (type)
    {
    case NB_SIGNAL_CANDIDATE_SRFLX: return NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE;
    case NB_SIGNAL_CANDIDATE_PRFLX: return NICE_CANDIDATE_TYPE_PEER_REFLEXIVE;
    case NB_SIGNAL_CANDIDATE_RELAY: return NICE_CANDIDATE_TYPE_RELAYED;
    case NB_SIGNAL_CANDIDATE_HOST:
    default: return NICE_CANDIDATE_TYPE_HOST;
    }
}

const char *
nb_ice_candidate_type_name (NiceCandidateType type)
{
  return nb_signal_candidate_type_to_string (nb_ice_candidate_type_from_nice (type));
}

char *
nb_ice_address_to_endpoint (const NiceAddress *addr)
{
  char ip[NICE_ADDRESS_STRING_LEN];

  nice_address_to_string (addr, ip);
  if (nice_address_ip_version (addr) == 6)
    return g_strdup_printf ("[%s]:%u", ip, nice_address_get_port (addr));
  return g_strdup_printf ("%s:%u", ip, nice_address_get_port (addr));
}

static gboolean
foundation_is_valid (const char *f)
{
  gsize n = strlen (f);

  if (n == 0 || n > 32)
    return FALSE;
  for (gsize i = 0; i < n; i++)
    if (!g_ascii_isalnum (f[i]) && f[i] != '+' && f[i] != '/')
      return FALSE;
  return TRUE;
}

NbSignalCandidate *
nb_ice_candidate_from_nice (const NiceCandidate *c)
{
  g_autoptr (NbSignalCandidate) out = NULL;
  char ip[NICE_ADDRESS_STRING_LEN];

  if (c->transport != NICE_CANDIDATE_TRANSPORT_UDP || !nice_address_is_valid (&c->addr)
      || c->type > NICE_CANDIDATE_TYPE_RELAYED || nice_address_get_port (&c->addr) == 0)
    {
      g_debug ("not signalling a local candidate of type %d, transport %d",
               (int) c->type, (int) c->transport);
      return NULL;
    }
  out = nb_signal_candidate_new ();
  /* libnice's foundations are small decimal numbers. */
  out->foundation = g_strdup (foundation_is_valid (c->foundation) ? c->foundation : "1");
  out->component = 1;
  out->priority = c->priority;
  nice_address_to_string (&c->addr, ip);
  out->address = g_strdup (ip);
  out->port = nice_address_get_port (&c->addr);
  out->type = nb_ice_candidate_type_from_nice (c->type);
  if (c->type != NICE_CANDIDATE_TYPE_HOST && nice_address_is_valid (&c->base_addr))
    {
      nice_address_to_string (&c->base_addr, ip);
      out->related_address = g_strdup (ip);
      out->related_port = nice_address_get_port (&c->base_addr);
    }
  return g_steal_pointer (&out);
}

static gboolean
address_in_networks (GInetAddress *addr, GPtrArray *routed, char **which)
{
  if (routed == NULL)
    return FALSE;
  for (guint i = 0; i < routed->len; i++)
    {
      GInetAddressMask *mask = g_ptr_array_index (routed, i);

      if (g_inet_address_mask_get_family (mask) == g_inet_address_get_family (addr)
          && g_inet_address_mask_matches (mask, addr))
        {
          *which = g_inet_address_mask_to_string (mask);
          return TRUE;
        }
    }
  return FALSE;
}

static gboolean
address_is_ipv4_broadcast (GInetAddress *addr)
{
  const guint8 *b;

  if (g_inet_address_get_family (addr) != G_SOCKET_FAMILY_IPV4)
    return FALSE;
  b = g_inet_address_to_bytes (addr);
  return b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255;
}

NiceCandidate *
nb_ice_candidate_to_nice (const NbSignalCandidate *line,
                          guint                    stream_id,
                          gboolean                 ipv6,
                          GPtrArray               *routed,
                          GError                 **error)
{
  g_autoptr (GInetAddress) addr = NULL;
  g_autofree char *network = NULL;
  NiceCandidate *c;

  if (line->component != 1)
    {
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_MALFORMED,
                   "candidate for component %u (only 1 is used)", line->component);
      return NULL;
    }
  if (line->type > NB_SIGNAL_CANDIDATE_RELAY)
    {
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_MALFORMED,
                   "candidate of unknown type %d", (int) line->type);
      return NULL;
    }
  if (line->address == NULL || line->port == 0
      || (addr = g_inet_address_new_from_string (line->address)) == NULL)
    {
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_MALFORMED,
                   "candidate address \"%s\" is not an IP address (mDNS names are not resolved)",
                   line->address ? line->address : "");
      return NULL;
    }
  if (g_inet_address_get_is_any (addr) || g_inet_address_get_is_multicast (addr)
      || address_is_ipv4_broadcast (addr))
    {
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_MALFORMED,
                   "candidate address %s cannot be a peer", line->address);
      return NULL;
    }
  if (!ipv6 && g_inet_address_get_family (addr) == G_SOCKET_FAMILY_IPV6)
    {
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_FILTERED,
                   "IPv6 candidate %s while IPv6 is off", line->address);
      return NULL;
    }
  if (address_in_networks (addr, routed, &network))
    {
      g_set_error (error, NB_WORKER_ICE_ERROR, NB_WORKER_ICE_ERROR_FILTERED,
                   "candidate %s lies in %s, which is routed through the tunnel",
                   line->address, network);
      return NULL;
    }

  c = nice_candidate_new (nb_ice_candidate_type_to_nice (line->type));
  c->transport = NICE_CANDIDATE_TRANSPORT_UDP;
  c->stream_id = stream_id;
  c->component_id = 1;
  c->priority = line->priority;
  g_strlcpy (c->foundation, line->foundation && *line->foundation ? line->foundation : "1",
             sizeof c->foundation);
  nice_address_set_from_string (&c->addr, line->address);
  nice_address_set_port (&c->addr, line->port);
  if (line->related_address != NULL
      && nice_address_set_from_string (&c->base_addr, line->related_address))
    nice_address_set_port (&c->base_addr, line->related_port);
  return c;
}

NiceCandidate *
nb_ice_extra_srflx_candidate (const NiceCandidate *c)
{
  NiceCandidate *extra;
  guint base_port;

  if (c->type != NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE || !nice_address_is_valid (&c->base_addr))
    return NULL;
  base_port = nice_address_get_port (&c->base_addr);
  if (base_port == 0 || base_port == nice_address_get_port (&c->addr))
    return NULL;
  extra = nice_candidate_copy (c);
  nice_address_set_port (&extra->addr, base_port);
  return extra;
}
