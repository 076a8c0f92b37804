/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "nb-route"

#include "config.h"

#include "route-peers.h"

#include <string.h>

#include "wg-backend.h"

/* The routes of one network and the routing peer chosen so far. */
typedef struct {
  const NbRoute *best;
  gboolean best_connected;
} Choice;

static gboolean
is_exit_node (const char *cidr)
{
  return strcmp (cidr, "0.0.0.0/0") == 0 || strcmp (cidr, "::/0") == 0;
}

gboolean
nb_route_is_exit_node (const NbRoute *route)
{
  g_autofree char *network = NULL;

  if (route == NULL || route->network == NULL)
    return FALSE;
  network = nb_wg_allowed_ip_normalize (route->network, NULL);
  return network != NULL && is_exit_node (network);
}

static gboolean
peer_listed (const GPtrArray *peers, const char *key)
{
  if (peers == NULL)
    return TRUE;
  for (guint i = 0; i < peers->len; i++)
    if (g_strcmp0 (((const NbRemotePeer *) peers->pdata[i])->key, key) == 0)
      return TRUE;
  return FALSE;
}

/* Whether @route (connected or not) beats the current choice. */
static gboolean
better (const Choice *choice, const NbRoute *route, gboolean connected)
{
  int order;

  if (choice->best == NULL)
    return TRUE;
  if (connected != choice->best_connected)
    return connected;
  if (route->metric != choice->best->metric)
    return route->metric < choice->best->metric;
  order = strcmp (route->peer, choice->best->peer);
  return order < 0;
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

GHashTable *
nb_route_peers_compute (const GPtrArray   *routes,
                        const char        *own_key,
                        const GPtrArray   *peers,
                        GHashTable        *connected,
                        const char        *exit_net_id)
{
  g_autoptr (GHashTable) choices = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GHashTable) lists = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                                        (GDestroyNotify) g_ptr_array_unref);
  GHashTable *result = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_strfreev);
  GHashTableIter iter;
  gpointer key, value;

  for (guint i = 0; routes != NULL && i < routes->len; i++)
    {
      const NbRoute *route = routes->pdata[i];
      g_autoptr (GError) error = NULL;
      g_autofree char *network = NULL;
      gboolean is_connected;
      Choice *choice;

      if (route->network == NULL || *route->network == '\0' || route->peer == NULL || *route->peer == '\0')
        continue;
      if (g_strcmp0 (route->peer, own_key) == 0)
        continue;
      network = nb_wg_allowed_ip_normalize (route->network, &error);
      if (network == NULL)
        {
          g_warning ("route %s: network left out: %s", route->id ? route->id : "?", error->message);
          continue;
        }
      if (is_exit_node (network) && (exit_net_id == NULL || g_strcmp0 (route->net_id, exit_net_id) != 0))
        continue;
      if (!peer_listed (peers, route->peer))
        continue;
      is_connected = connected != NULL && g_hash_table_contains (connected, route->peer);
      choice = g_hash_table_lookup (choices, network);
      if (choice == NULL)
        {
          choice = g_new0 (Choice, 1);
          g_hash_table_insert (choices, g_strdup (network), choice);
        }
      if (better (choice, route, is_connected))
        {
          choice->best = route;
          choice->best_connected = is_connected;
        }
    }

  /* Per chosen peer, its networks. */
  g_hash_table_iter_init (&iter, choices);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      const Choice *choice = value;
      GPtrArray *list = g_hash_table_lookup (lists, choice->best->peer);

      if (list == NULL)
        {
          list = g_ptr_array_new_with_free_func (g_free);
          g_hash_table_insert (lists, choice->best->peer, list);
        }
      g_ptr_array_add (list, g_strdup (key));
    }
  g_hash_table_iter_init (&iter, lists);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      GPtrArray *list = value;

      g_ptr_array_sort (list, compare_strings);
      g_ptr_array_add (list, NULL);
      g_hash_table_insert (result, g_strdup (key), g_ptr_array_steal (list, NULL));
    }
  return result;
}

/* The canonical form of @cidr, or the text itself when it does not parse. */
static char *
canonical (const char *cidr)
{
  char *normal = nb_wg_allowed_ip_normalize (cidr, NULL);

  return normal ? normal : g_strdup (cidr);
}

NbRemotePeer *
nb_route_peers_extend_peer (const NbRemotePeer *peer,
                            const char *const  *extra)
{
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) ips = g_ptr_array_new ();

  g_return_val_if_fail (peer != NULL, NULL);

  for (guint i = 0; peer->allowed_ips != NULL && peer->allowed_ips[i] != NULL; i++)
    {
      g_ptr_array_add (ips, peer->allowed_ips[i]);
      g_hash_table_add (seen, canonical (peer->allowed_ips[i]));
    }
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    {
      char *c = canonical (extra[i]);

      if (g_hash_table_contains (seen, c))
        {
          g_free (c);
          continue;
        }
      g_hash_table_add (seen, c);
      g_ptr_array_add (ips, (gpointer) extra[i]);
    }
  g_ptr_array_add (ips, NULL);
  return nb_remote_peer_new (peer->key, (const char *const *) ips->pdata, peer->fqdn, peer->agent_version);
}

const char *
nb_route_peers_choose_exit (const GPtrArray *routes,
                            const char      *own_key,
                            const GPtrArray *peers,
                            const char      *setting)
{
  gboolean automatic = setting == NULL || *setting == '\0' || strcmp (setting, NB_ROUTE_PEERS_EXIT_AUTO) == 0;
  const char *chosen = NULL;

  if (setting != NULL && strcmp (setting, NB_ROUTE_PEERS_EXIT_NONE) == 0)
    return NULL;
  for (guint i = 0; routes != NULL && i < routes->len; i++)
    {
      const NbRoute *route = routes->pdata[i];

      if (route->net_id == NULL || *route->net_id == '\0' || route->peer == NULL)
        continue;
      if (g_strcmp0 (route->peer, own_key) == 0 || !peer_listed (peers, route->peer))
        continue;
      if (!nb_route_is_exit_node (route))
        continue;
      if (!automatic)
        {
          if (strcmp (route->net_id, setting) == 0)
            return route->net_id;
          continue;
        }
      if (route->skip_auto_apply)
        continue;
      if (chosen == NULL || strcmp (route->net_id, chosen) < 0)
        chosen = route->net_id;
    }
  return chosen;
}
