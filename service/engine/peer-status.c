/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "nb-status"

#include "config.h"

#include "peer-status.h"

#include <gio/gio.h>
#include <string.h>

#define USEC_PER_SEC G_USEC_PER_SEC

/* ------------------------------------------------------------------------ */
/* Values */

const char *
nb_peer_conn_status_to_string (NbPeerConnStatus status)
{
  switch (status)
    {
    case NB_PEER_CONN_IDLE: return "Idle";
    case NB_PEER_CONN_CONNECTING: return "Connecting";
    case NB_PEER_CONN_CONNECTED: return "Connected";
    case NB_PEER_CONN_DISCONNECTED: return "Disconnected";
    }
  return "Unknown";
}

const char *
nb_peer_conn_type_to_string (NbPeerConnType type)
{
  switch (type)
    {
    case NB_PEER_CONN_TYPE_NONE: return "-";
    case NB_PEER_CONN_TYPE_P2P: return "P2P";
    case NB_PEER_CONN_TYPE_RELAYED: return "Relayed";
    }
  return "-";
}

const char *
nb_peer_path_status_to_string (NbPeerPathStatus status)
{
  switch (status)
    {
    case NB_PEER_PATH_DISCONNECTED: return "Disconnected";
    case NB_PEER_PATH_CONNECTING: return "Connecting";
    case NB_PEER_PATH_CONNECTED: return "Connected";
    }
  return "Unknown";
}

static const char *
nonempty (const char *s)
{
  return s != NULL && s[0] != '\0' ? s : NULL;
}

static gboolean
str_equal (const char *a, const char *b)
{
  return g_strcmp0 (nonempty (a), nonempty (b)) == 0;
}

/* @src may be *@dst itself. */
static void
set_str (char **dst, const char *src)
{
  char *copy = g_strdup (nonempty (src));

  g_free (*dst);
  *dst = copy;
}

static int
compare_str_ptrs (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

/* @list (nullable) sorted, without duplicates and empty strings; never
 * NULL. */
static char **
strv_sorted_unique (const char *const *list)
{
  g_autoptr (GPtrArray) out = g_ptr_array_new ();

  for (guint i = 0; list != NULL && list[i] != NULL; i++)
    if (list[i][0] != '\0')
      g_ptr_array_add (out, g_strdup (list[i]));
  g_ptr_array_sort (out, compare_str_ptrs);
  for (guint i = 1; i < out->len;)
    {
      if (strcmp (out->pdata[i - 1], out->pdata[i]) == 0)
        g_free (g_ptr_array_steal_index (out, i));
      else
        i++;
    }
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&out), FALSE);
}

/* NULL and empty are the same list. */
static gboolean
strv_equal (const char *const *a, const char *const *b)
{
  static const char *const none[] = { NULL };

  return g_strv_equal (a != NULL ? a : none, b != NULL ? b : none);
}

NbPeerStatus *
nb_peer_status_new (const char *key)
{
  NbPeerStatus *st = g_new0 (NbPeerStatus, 1);

  st->key = g_strdup (key);
  st->status = NB_PEER_CONN_IDLE;
  st->conn_type = NB_PEER_CONN_TYPE_NONE;
  st->ice_status = NB_PEER_PATH_DISCONNECTED;
  st->relay_status = NB_PEER_PATH_DISCONNECTED;
  st->networks = g_new0 (char *, 1);
  return st;
}

NbPeerStatus *
nb_peer_status_copy (const NbPeerStatus *status)
{
  NbPeerStatus *copy;

  g_return_val_if_fail (status != NULL, NULL);

  copy = g_memdup2 (status, sizeof *status);
  copy->key = g_strdup (status->key);
  copy->fqdn = g_strdup (status->fqdn);
  copy->ip = g_strdup (status->ip);
  copy->local_candidate_type = g_strdup (status->local_candidate_type);
  copy->remote_candidate_type = g_strdup (status->remote_candidate_type);
  copy->local_endpoint = g_strdup (status->local_endpoint);
  copy->remote_endpoint = g_strdup (status->remote_endpoint);
  copy->relay_address = g_strdup (status->relay_address);
  copy->networks = status->networks != NULL ? g_strdupv (status->networks) : g_new0 (char *, 1);
  return copy;
}

void
nb_peer_status_free (NbPeerStatus *status)
{
  if (status == NULL)
    return;
  g_free (status->key);
  g_free (status->fqdn);
  g_free (status->ip);
  g_free (status->local_candidate_type);
  g_free (status->remote_candidate_type);
  g_free (status->local_endpoint);
  g_free (status->remote_endpoint);
  g_free (status->relay_address);
  g_strfreev (status->networks);
  g_free (status);
}

NbPeerStatusField
nb_peer_status_diff (const NbPeerStatus *a, const NbPeerStatus *b, NbPeerStatusField fields)
{
  NbPeerStatusField d = 0;

  g_return_val_if_fail (a != NULL && b != NULL, 0);

#define DIFF_STR(flag, member) \
  if ((fields & (flag)) && !str_equal (a->member, b->member)) d |= (flag)
#define DIFF_VAL(flag, member) \
  if ((fields & (flag)) && a->member != b->member) d |= (flag)

  DIFF_STR (NB_PEER_FIELD_FQDN, fqdn);
  DIFF_STR (NB_PEER_FIELD_IP, ip);
  DIFF_VAL (NB_PEER_FIELD_STATUS, status);
  DIFF_VAL (NB_PEER_FIELD_CONN_TYPE, conn_type);
  DIFF_VAL (NB_PEER_FIELD_ICE_STATUS, ice_status);
  DIFF_VAL (NB_PEER_FIELD_RELAY_STATUS, relay_status);
  DIFF_STR (NB_PEER_FIELD_LOCAL_CANDIDATE_TYPE, local_candidate_type);
  DIFF_STR (NB_PEER_FIELD_REMOTE_CANDIDATE_TYPE, remote_candidate_type);
  DIFF_STR (NB_PEER_FIELD_LOCAL_ENDPOINT, local_endpoint);
  DIFF_STR (NB_PEER_FIELD_REMOTE_ENDPOINT, remote_endpoint);
  DIFF_STR (NB_PEER_FIELD_RELAY_ADDRESS, relay_address);
  if ((fields & NB_PEER_FIELD_ROSENPASS) && !a->rosenpass_enabled != !b->rosenpass_enabled)
    d |= NB_PEER_FIELD_ROSENPASS;
  DIFF_VAL (NB_PEER_FIELD_LAST_HANDSHAKE, last_handshake);
  DIFF_VAL (NB_PEER_FIELD_RX_BYTES, rx_bytes);
  DIFF_VAL (NB_PEER_FIELD_TX_BYTES, tx_bytes);
  DIFF_VAL (NB_PEER_FIELD_LATENCY, latency_us);
  if ((fields & NB_PEER_FIELD_NETWORKS)
      && !strv_equal ((const char *const *) a->networks, (const char *const *) b->networks))
    d |= NB_PEER_FIELD_NETWORKS;

#undef DIFF_STR
#undef DIFF_VAL
  return d;
}

/* Copies the @fields of @src into @dst. */
static void
apply_fields (NbPeerStatus *dst, const NbPeerStatus *src, NbPeerStatusField fields)
{
  if (fields & NB_PEER_FIELD_FQDN)
    set_str (&dst->fqdn, src->fqdn);
  if (fields & NB_PEER_FIELD_IP)
    set_str (&dst->ip, src->ip);
  if (fields & NB_PEER_FIELD_STATUS)
    dst->status = src->status;
  if (fields & NB_PEER_FIELD_CONN_TYPE)
    dst->conn_type = src->conn_type;
  if (fields & NB_PEER_FIELD_ICE_STATUS)
    dst->ice_status = src->ice_status;
  if (fields & NB_PEER_FIELD_RELAY_STATUS)
    dst->relay_status = src->relay_status;
  if (fields & NB_PEER_FIELD_LOCAL_CANDIDATE_TYPE)
    set_str (&dst->local_candidate_type, src->local_candidate_type);
  if (fields & NB_PEER_FIELD_REMOTE_CANDIDATE_TYPE)
    set_str (&dst->remote_candidate_type, src->remote_candidate_type);
  if (fields & NB_PEER_FIELD_LOCAL_ENDPOINT)
    set_str (&dst->local_endpoint, src->local_endpoint);
  if (fields & NB_PEER_FIELD_REMOTE_ENDPOINT)
    set_str (&dst->remote_endpoint, src->remote_endpoint);
  if (fields & NB_PEER_FIELD_RELAY_ADDRESS)
    set_str (&dst->relay_address, src->relay_address);
  if (fields & NB_PEER_FIELD_ROSENPASS)
    dst->rosenpass_enabled = !!src->rosenpass_enabled;
  if (fields & NB_PEER_FIELD_LAST_HANDSHAKE)
    dst->last_handshake = src->last_handshake;
  if (fields & NB_PEER_FIELD_RX_BYTES)
    dst->rx_bytes = src->rx_bytes;
  if (fields & NB_PEER_FIELD_TX_BYTES)
    dst->tx_bytes = src->tx_bytes;
  if (fields & NB_PEER_FIELD_LATENCY)
    dst->latency_us = src->latency_us;
  if (fields & NB_PEER_FIELD_NETWORKS)
    {
      g_strfreev (dst->networks);
      dst->networks = strv_sorted_unique ((const char *const *) src->networks);
    }
}

/* ------------------------------------------------------------------------ */
/* Text, as NetBird's client/status/status.go writes it */

/* timeAgo() */
static char *
format_time_ago (gint64 t, gint64 now)
{
  gint64 d, secs, minutes, hours, days;

  if (t == 0)
    return g_strdup ("-");
  d = now - t;
  if (d < USEC_PER_SEC)
    return g_strdup ("Now");
  secs = d / USEC_PER_SEC;
  if (secs < 60)
    return secs == 1 ? g_strdup ("1 second ago")
                     : g_strdup_printf ("%" G_GINT64_FORMAT " seconds ago", secs);
  if (secs < 3600)
    {
      minutes = secs / 60;
      secs %= 60;
      if (minutes == 1)
        {
          if (secs == 1)
            return g_strdup ("1 minute, 1 second ago");
          if (secs > 0)
            return g_strdup_printf ("1 minute, %" G_GINT64_FORMAT " seconds ago", secs);
          return g_strdup ("1 minute ago");
        }
      if (secs > 0)
        return g_strdup_printf ("%" G_GINT64_FORMAT " minutes, %" G_GINT64_FORMAT " seconds ago",
                                minutes, secs);
      return g_strdup_printf ("%" G_GINT64_FORMAT " minutes ago", minutes);
    }
  if (secs < 24 * 3600)
    {
      hours = secs / 3600;
      minutes = (secs / 60) % 60;
      if (hours == 1)
        {
          if (minutes == 1)
            return g_strdup ("1 hour, 1 minute ago");
          if (minutes > 0)
            return g_strdup_printf ("1 hour, %" G_GINT64_FORMAT " minutes ago", minutes);
          return g_strdup ("1 hour ago");
        }
      if (minutes > 0)
        return g_strdup_printf ("%" G_GINT64_FORMAT " hours, %" G_GINT64_FORMAT " minutes ago",
                                hours, minutes);
      return g_strdup_printf ("%" G_GINT64_FORMAT " hours ago", hours);
    }
  days = secs / (24 * 3600);
  hours = (secs / 3600) % 24;
  if (days == 1)
    {
      if (hours == 1)
        return g_strdup ("1 day, 1 hour ago");
      if (hours > 0)
        return g_strdup_printf ("1 day, %" G_GINT64_FORMAT " hours ago", hours);
      return g_strdup ("1 day ago");
    }
  if (hours > 0)
    return g_strdup_printf ("%" G_GINT64_FORMAT " days, %" G_GINT64_FORMAT " hours ago", days, hours);
  return g_strdup_printf ("%" G_GINT64_FORMAT " days ago", days);
}

/* toIEC() */
static char *
format_iec (guint64 b)
{
  const guint64 unit = 1024;
  guint64 div = unit;
  guint exp = 0;
  char num[G_ASCII_DTOSTR_BUF_SIZE];

  if (b < unit)
    return g_strdup_printf ("%" G_GUINT64_FORMAT " B", b);
  for (guint64 n = b / unit; n >= unit && exp < 5; n /= unit)
    {
      div *= unit;
      exp++;
    }
  g_ascii_formatd (num, sizeof num, "%.1f", (double) b / (double) div);
  return g_strdup_printf ("%s %ciB", num, "KMGTPE"[exp]);
}

/* "<int>[.<frac without trailing zeros>]" of @v / 10^@prec. */
static void
append_frac (GString *s, guint64 v, guint prec)
{
  guint64 scale = 1;
  char digits[24];
  int n;

  for (guint i = 0; i < prec; i++)
    scale *= 10;
  g_string_append_printf (s, "%" G_GUINT64_FORMAT, v / scale);
  if (prec == 0 || v % scale == 0)
    return;
  g_snprintf (digits, sizeof digits, "%0*" G_GUINT64_FORMAT, (int) prec, v % scale);
  for (n = (int) strlen (digits); n > 0 && digits[n - 1] == '0'; n--)
    digits[n - 1] = '\0';
  g_string_append_printf (s, ".%s", digits);
}

/* Go's time.Duration.String() of @ns. */
static char *
format_go_duration (gint64 ns)
{
  GString *s = g_string_new (NULL);
  guint64 u;

  if (ns < 0)
    {
      g_string_append_c (s, '-');
      u = (guint64) (-(ns + 1)) + 1;
    }
  else
    {
      u = (guint64) ns;
    }

  if (u == 0)
    {
      g_string_append (s, "0s");
    }
  else if (u < 1000)
    {
      append_frac (s, u, 0);
      g_string_append (s, "ns");
    }
  else if (u < 1000000)
    {
      append_frac (s, u, 3);
      g_string_append (s, "µs");
    }
  else if (u < 1000000000)
    {
      append_frac (s, u, 6);
      g_string_append (s, "ms");
    }
  else
    {
      guint64 secs = u / 1000000000;
      guint64 h = secs / 3600, m = (secs / 60) % 60;

      if (h > 0)
        g_string_append_printf (s, "%" G_GUINT64_FORMAT "h", h);
      if (h > 0 || m > 0)
        g_string_append_printf (s, "%" G_GUINT64_FORMAT "m", m);
      append_frac (s, (secs % 60) * 1000000000 + u % 1000000000, 9);
      g_string_append_c (s, 's');
    }
  return g_string_free (s, FALSE);
}

static const char *
quantum_resistance (const NbPeerStatus *st, gboolean enabled, gboolean permissive)
{
  if (enabled)
    {
      if (st->rosenpass_enabled)
        return "true";
      return permissive ? "false (remote didn't enable quantum resistance)"
                        : "false (connection won't work without a permissive mode)";
    }
  if (st->rosenpass_enabled)
    return "false (connection might not work without a remote permissive mode)";
  return "false";
}

static const char *
dash (const char *s)
{
  return nonempty (s) != NULL ? s : "-";
}

/* NetBird's networks text: "a, b" (sorted), "-" for none. */
static char *
format_networks (const char *const *networks)
{
  g_auto (GStrv) sorted = strv_sorted_unique (networks);

  return sorted[0] != NULL ? g_strjoinv (", ", sorted) : g_strdup ("-");
}

char *
nb_peer_status_format_detail (const NbPeerStatus *st,
                              gint64              now,
                              gboolean            rosenpass_enabled,
                              gboolean            rosenpass_permissive)
{
  gboolean connected;
  const char *name;
  g_autofree char *last_update = NULL;
  g_autofree char *last_handshake = NULL;
  g_autofree char *rx = NULL;
  g_autofree char *tx = NULL;
  g_autofree char *latency = NULL;
  g_autofree char *networks = NULL;

  g_return_val_if_fail (st != NULL, NULL);

  connected = st->status == NB_PEER_CONN_CONNECTED;
  name = nonempty (st->fqdn) ? st->fqdn : nonempty (st->ip) ? st->ip : dash (st->key);
  last_update = format_time_ago (st->last_change, now);
  last_handshake = format_time_ago (connected ? st->last_handshake : 0, now);
  rx = format_iec (connected ? st->rx_bytes : 0);
  tx = format_iec (connected ? st->tx_bytes : 0);
  latency = format_go_duration (st->latency_us * 1000);
  networks = format_networks ((const char *const *) st->networks);

  return g_strdup_printf ("\n %s:\n"
                          "  NetBird IP: %s\n"
                          "  Public key: %s\n"
                          "  Status: %s\n"
                          "  -- detail --\n"
                          "  Connection type: %s\n"
                          "  ICE / relay: %s/%s\n"
                          "  ICE candidate (Local/Remote): %s/%s\n"
                          "  ICE candidate endpoints (Local/Remote): %s/%s\n"
                          "  Relay server address: %s\n"
                          "  Last connection update: %s\n"
                          "  Last WireGuard handshake: %s\n"
                          "  Transfer status (received/sent) %s/%s\n"
                          "  Quantum resistance: %s\n"
                          "  Networks: %s\n"
                          "  Latency: %s\n",
                          name,
                          dash (st->ip),
                          dash (st->key),
                          nb_peer_conn_status_to_string (st->status),
                          connected ? nb_peer_conn_type_to_string (st->conn_type) : "-",
                          nb_peer_path_status_to_string (st->ice_status),
                          nb_peer_path_status_to_string (st->relay_status),
                          connected ? dash (st->local_candidate_type) : "-",
                          connected ? dash (st->remote_candidate_type) : "-",
                          connected ? dash (st->local_endpoint) : "-",
                          connected ? dash (st->remote_endpoint) : "-",
                          connected ? dash (st->relay_address) : "-",
                          last_update,
                          last_handshake,
                          rx, tx,
                          quantum_resistance (st, rosenpass_enabled, rosenpass_permissive),
                          networks,
                          latency);
}

/* ------------------------------------------------------------------------ */
/* Recorder */

typedef enum {
  EVENT_ADDED,
  EVENT_REMOVED,
  EVENT_CHANGED,
  EVENT_SERVICE,
  EVENT_LOCAL,
} EventKind;

typedef struct {
  EventKind kind;
  char *key;                    /* peer key, or the service URL */
  guint mask;                   /* CHANGED */
  NbStatusService service;      /* SERVICE */
} Event;

static void
event_free (Event *ev)
{
  g_free (ev->key);
  g_free (ev);
}

struct _NbStatusRecorder {
  GObject parent_instance;

  GHashTable *peers;            /* key -> NbPeerStatus * */
  NbServiceState management;
  NbServiceState signal;
  GPtrArray *relays;            /* NbServiceState * */
  gboolean rosenpass_enabled;
  gboolean rosenpass_permissive;
  NbLocalState local;
  /* key -> char ** (sorted, unique, not empty): the routed networks of
   * every peer that has any, record or not (set_peer_networks()). */
  GHashTable *networks;

  gint64 (*now) (gpointer data);
  gpointer now_data;

  GMainContext *context;
  GSource *idle;
  GQueue events;                /* Event *, oldest first */
};

enum {
  SIGNAL_PEER_ADDED,
  SIGNAL_PEER_REMOVED,
  SIGNAL_PEER_CHANGED,
  SIGNAL_SERVICE_CHANGED,
  SIGNAL_LOCAL_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (NbStatusRecorder, nb_status_recorder, G_TYPE_OBJECT)

static gint64
default_now (gpointer data)
{
  return g_get_real_time ();
}

static void
service_state_clear (NbServiceState *s)
{
  g_clear_pointer (&s->url, g_free);
  g_clear_pointer (&s->error, g_free);
  s->connected = FALSE;
}

static void
service_state_free (NbServiceState *s)
{
  service_state_clear (s);
  g_free (s);
}

static gboolean
emit_events_cb (gpointer data)
{
  NbStatusRecorder *self = NB_STATUS_RECORDER (data);
  g_autoptr (NbStatusRecorder) hold = g_object_ref (self);
  Event *ev;

  g_clear_pointer (&self->idle, g_source_unref); /* removed by returning */

  while ((ev = g_queue_pop_head (&self->events)) != NULL)
    {
      switch (ev->kind)
        {
        case EVENT_ADDED:
          g_signal_emit (self, signals[SIGNAL_PEER_ADDED], 0, ev->key);
          break;
        case EVENT_REMOVED:
          g_signal_emit (self, signals[SIGNAL_PEER_REMOVED], 0, ev->key);
          break;
        case EVENT_CHANGED:
          g_signal_emit (self, signals[SIGNAL_PEER_CHANGED], 0, ev->key, ev->mask);
          break;
        case EVENT_SERVICE:
          g_signal_emit (self, signals[SIGNAL_SERVICE_CHANGED], 0, (guint) ev->service, ev->key);
          break;
        case EVENT_LOCAL:
          g_signal_emit (self, signals[SIGNAL_LOCAL_CHANGED], 0);
          break;
        }
      event_free (ev);
    }
  return G_SOURCE_REMOVE;
}

static void
queue_event (NbStatusRecorder *self, EventKind kind, const char *key, guint mask, NbStatusService service)
{
  Event *ev;

  /* Merge with the last queued event about the same thing, if it is of
   * the same kind (changes of a peer; a service). */
  for (GList *l = self->events.tail; l != NULL; l = l->prev)
    {
      Event *q = l->data;

      if (kind == EVENT_LOCAL)
        {
          if (q->kind == EVENT_LOCAL)
            return;
          continue;
        }
      if (kind == EVENT_SERVICE)
        {
          if (q->kind == EVENT_SERVICE && q->service == service && g_strcmp0 (q->key, key) == 0)
            return;
          continue;
        }
      if (q->kind == EVENT_SERVICE || q->kind == EVENT_LOCAL || g_strcmp0 (q->key, key) != 0)
        continue;
      if (kind == EVENT_CHANGED && q->kind == EVENT_CHANGED)
        {
          q->mask |= mask;
          return;
        }
      if (kind == EVENT_CHANGED && q->kind == EVENT_ADDED)
        return; /* "peer-added" readers see the record as it is by then */
      break;
    }

  if (kind == EVENT_REMOVED)
    {
      gboolean unannounced = FALSE;

      /* Changes of a removed peer are moot; an addition not yet announced
       * cancels out with the removal. */
      for (GList *l = self->events.head; l != NULL;)
        {
          GList *next = l->next;
          Event *q = l->data;

          if ((q->kind == EVENT_CHANGED || q->kind == EVENT_ADDED) && g_strcmp0 (q->key, key) == 0
              && (q->kind == EVENT_CHANGED || q->kind == EVENT_ADDED))
            {
              if (q->kind == EVENT_ADDED)
                unannounced = TRUE;
              event_free (q);
              g_queue_delete_link (&self->events, l);
            }
          l = next;
        }
      if (unannounced)
        return;
    }

  ev = g_new0 (Event, 1);
  ev->kind = kind;
  ev->key = g_strdup (key);
  ev->mask = mask;
  ev->service = service;
  g_queue_push_tail (&self->events, ev);

  if (self->idle == NULL)
    {
      self->idle = g_idle_source_new ();
      g_source_set_callback (self->idle, emit_events_cb, self, NULL);
      g_source_set_static_name (self->idle, "[nb-status] events");
      g_source_attach (self->idle, self->context);
    }
}

NbStatusRecorder *
nb_status_recorder_new (void)
{
  return g_object_new (NB_TYPE_STATUS_RECORDER, NULL);
}

void
nb_status_recorder_set_clock (NbStatusRecorder *self, gint64 (*now) (gpointer data), gpointer data)
{
  g_return_if_fail (NB_IS_STATUS_RECORDER (self));

  self->now = now != NULL ? now : default_now;
  self->now_data = now != NULL ? data : NULL;
}

gboolean
nb_status_recorder_add_peer (NbStatusRecorder *self, const char *key, const char *fqdn, const char *ip)
{
  NbPeerStatus *st;
  char **networks;

  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), FALSE);
  g_return_val_if_fail (key != NULL, FALSE);

  if (g_hash_table_contains (self->peers, key))
    return FALSE;
  st = nb_peer_status_new (key);
  set_str (&st->fqdn, fqdn);
  set_str (&st->ip, ip);
  networks = g_hash_table_lookup (self->networks, key);
  if (networks != NULL)
    {
      g_strfreev (st->networks);
      st->networks = g_strdupv (networks);
    }
  st->last_change = self->now (self->now_data);
  g_hash_table_insert (self->peers, st->key, st);
  queue_event (self, EVENT_ADDED, key, 0, 0);
  return TRUE;
}

gboolean
nb_status_recorder_remove_peer (NbStatusRecorder *self, const char *key)
{
  g_autofree char *copy = NULL;

  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), FALSE);
  g_return_val_if_fail (key != NULL, FALSE);

  copy = g_strdup (key); /* @key may be the record's own */
  if (!g_hash_table_remove (self->peers, copy))
    return FALSE;
  queue_event (self, EVENT_REMOVED, copy, 0, 0);
  return TRUE;
}

const NbPeerStatus *
nb_status_recorder_get_peer (NbStatusRecorder *self, const char *key)
{
  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), NULL);
  g_return_val_if_fail (key != NULL, NULL);

  return g_hash_table_lookup (self->peers, key);
}

/* Go's netip.Addr order: invalid first, IPv4 before IPv6, then bytes. */
static int
ip_rank (const char *ip, guint8 bytes[16], gsize *len)
{
  g_autoptr (GInetAddress) addr = ip != NULL ? g_inet_address_new_from_string (ip) : NULL;

  *len = 0;
  if (addr == NULL)
    return 0;
  *len = g_inet_address_get_native_size (addr);
  memcpy (bytes, g_inet_address_to_bytes (addr), *len);
  return g_inet_address_get_family (addr) == G_SOCKET_FAMILY_IPV4 ? 1 : 2;
}

static int
compare_by_ip (gconstpointer pa, gconstpointer pb)
{
  const NbPeerStatus *a = *(NbPeerStatus * const *) pa;
  const NbPeerStatus *b = *(NbPeerStatus * const *) pb;
  guint8 ba[16], bb[16];
  gsize la, lb;
  int ra = ip_rank (a->ip, ba, &la);
  int rb = ip_rank (b->ip, bb, &lb);
  int c;

  if (ra != rb)
    return ra < rb ? -1 : 1;
  if (la > 0 && (c = memcmp (ba, bb, la)) != 0)
    return c;
  return g_strcmp0 (a->key, b->key);
}

GPtrArray *
nb_status_recorder_dup_peers (NbStatusRecorder *self)
{
  GPtrArray *out;
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), NULL);

  out = g_ptr_array_new_with_free_func ((GDestroyNotify) nb_peer_status_free);
  g_hash_table_iter_init (&iter, self->peers);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (out, nb_peer_status_copy (value));
  g_ptr_array_sort (out, compare_by_ip);
  return out;
}

guint
nb_status_recorder_get_n_peers (NbStatusRecorder *self)
{
  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), 0);
  return g_hash_table_size (self->peers);
}

guint
nb_status_recorder_get_n_connected (NbStatusRecorder *self)
{
  GHashTableIter iter;
  gpointer value;
  guint n = 0;

  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), 0);

  g_hash_table_iter_init (&iter, self->peers);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((NbPeerStatus *) value)->status == NB_PEER_CONN_CONNECTED)
      n++;
  return n;
}

NbPeerStatusField
nb_status_recorder_update (NbStatusRecorder *self, const NbPeerStatus *values, NbPeerStatusField fields)
{
  NbPeerStatus *st;
  NbPeerStatusField changed;

  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), 0);
  g_return_val_if_fail (values != NULL && values->key != NULL, 0);

  st = g_hash_table_lookup (self->peers, values->key);
  if (st == NULL)
    return 0;

  changed = nb_peer_status_diff (st, values, fields & NB_PEER_FIELDS_ALL);
  if (changed == 0)
    return 0;
  apply_fields (st, values, changed);
  if (changed & NB_PEER_FIELDS_CONNECTION)
    {
      gint64 now = self->now (self->now_data);

      if (now != st->last_change)
        {
          st->last_change = now;
          changed |= NB_PEER_FIELD_LAST_CHANGE;
        }
    }
  queue_event (self, EVENT_CHANGED, st->key, changed, 0);
  return changed;
}

NbPeerStatusField
nb_status_recorder_update_identity (NbStatusRecorder *self, const char *key, const char *fqdn, const char *ip)
{
  NbPeerStatus v = { .key = (char *) key, .fqdn = (char *) fqdn, .ip = (char *) ip };

  return nb_status_recorder_update (self, &v, NB_PEER_FIELDS_IDENTITY);
}

NbPeerStatusField
nb_status_recorder_update_connection (NbStatusRecorder *self,
                                      const char       *key,
                                      NbPeerConnStatus  status,
                                      NbPeerConnType    conn_type)
{
  NbPeerStatus v = { .key = (char *) key, .status = status, .conn_type = conn_type };

  return nb_status_recorder_update (self, &v, NB_PEER_FIELD_STATUS | NB_PEER_FIELD_CONN_TYPE);
}

NbPeerStatusField
nb_status_recorder_update_ice (NbStatusRecorder *self,
                               const char       *key,
                               NbPeerPathStatus  ice_status,
                               const char       *local_candidate_type,
                               const char       *remote_candidate_type,
                               const char       *local_endpoint,
                               const char       *remote_endpoint)
{
  NbPeerStatus v = {
    .key = (char *) key,
    .ice_status = ice_status,
    .local_candidate_type = (char *) local_candidate_type,
    .remote_candidate_type = (char *) remote_candidate_type,
    .local_endpoint = (char *) local_endpoint,
    .remote_endpoint = (char *) remote_endpoint,
  };

  return nb_status_recorder_update (self, &v,
                                    NB_PEER_FIELD_ICE_STATUS | NB_PEER_FIELD_LOCAL_CANDIDATE_TYPE |
                                    NB_PEER_FIELD_REMOTE_CANDIDATE_TYPE | NB_PEER_FIELD_LOCAL_ENDPOINT |
                                    NB_PEER_FIELD_REMOTE_ENDPOINT);
}

NbPeerStatusField
nb_status_recorder_update_relay (NbStatusRecorder *self,
                                 const char       *key,
                                 NbPeerPathStatus  relay_status,
                                 const char       *relay_address)
{
  NbPeerStatus v = { .key = (char *) key, .relay_status = relay_status, .relay_address = (char *) relay_address };

  return nb_status_recorder_update (self, &v, NB_PEER_FIELD_RELAY_STATUS | NB_PEER_FIELD_RELAY_ADDRESS);
}

NbPeerStatusField
nb_status_recorder_update_rosenpass (NbStatusRecorder *self, const char *key, gboolean enabled)
{
  NbPeerStatus v = { .key = (char *) key, .rosenpass_enabled = enabled };

  return nb_status_recorder_update (self, &v, NB_PEER_FIELD_ROSENPASS);
}

NbPeerStatusField
nb_status_recorder_update_wg_stats (NbStatusRecorder *self,
                                    const char       *key,
                                    gint64            last_handshake,
                                    guint64           rx_bytes,
                                    guint64           tx_bytes)
{
  NbPeerStatus v = {
    .key = (char *) key,
    .last_handshake = last_handshake,
    .rx_bytes = rx_bytes,
    .tx_bytes = tx_bytes,
  };

  return nb_status_recorder_update (self, &v,
                                    NB_PEER_FIELD_LAST_HANDSHAKE | NB_PEER_FIELD_RX_BYTES |
                                    NB_PEER_FIELD_TX_BYTES);
}

NbPeerStatusField
nb_status_recorder_update_latency (NbStatusRecorder *self, const char *key, gint64 latency_us)
{
  NbPeerStatus v = { .key = (char *) key, .latency_us = latency_us };

  return nb_status_recorder_update (self, &v, NB_PEER_FIELD_LATENCY);
}

NbPeerStatusField
nb_status_recorder_set_peer_networks (NbStatusRecorder *self, const char *key, const char *const *networks)
{
  char **sorted;
  NbPeerStatus v = { .key = (char *) key };

  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), 0);
  g_return_val_if_fail (key != NULL, 0);

  sorted = strv_sorted_unique (networks);
  if (sorted[0] == NULL)
    {
      g_hash_table_remove (self->networks, key);
      g_strfreev (sorted);
    }
  else
    {
      g_hash_table_replace (self->networks, g_strdup (key), sorted);
    }
  v.networks = g_hash_table_lookup (self->networks, key);
  return nb_status_recorder_update (self, &v, NB_PEER_FIELD_NETWORKS);
}

char **
nb_status_recorder_dup_networks (NbStatusRecorder *self)
{
  g_autoptr (GPtrArray) all = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), NULL);

  /* The records', not the table's: a peer that left routes nothing. */
  g_hash_table_iter_init (&iter, self->peers);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      const NbPeerStatus *st = value;

      for (guint i = 0; st->networks != NULL && st->networks[i] != NULL; i++)
        g_ptr_array_add (all, st->networks[i]);
    }
  g_ptr_array_add (all, NULL);
  return strv_sorted_unique ((const char *const *) all->pdata);
}

static gboolean
service_state_set (NbServiceState *s, const char *url, gboolean connected, const char *error)
{
  if (str_equal (s->url, url) && !s->connected == !connected && str_equal (s->error, error))
    return FALSE;
  set_str (&s->url, url);
  s->connected = !!connected;
  set_str (&s->error, error);
  return TRUE;
}

gboolean
nb_status_recorder_set_management (NbStatusRecorder *self, const char *url, gboolean connected, const char *error)
{
  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), FALSE);

  if (!service_state_set (&self->management, url, connected, error))
    return FALSE;
  queue_event (self, EVENT_SERVICE, self->management.url, 0, NB_STATUS_SERVICE_MANAGEMENT);
  return TRUE;
}

gboolean
nb_status_recorder_set_signal (NbStatusRecorder *self, const char *url, gboolean connected, const char *error)
{
  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), FALSE);

  if (!service_state_set (&self->signal, url, connected, error))
    return FALSE;
  queue_event (self, EVENT_SERVICE, self->signal.url, 0, NB_STATUS_SERVICE_SIGNAL);
  return TRUE;
}

static NbServiceState *
find_relay (NbStatusRecorder *self, const char *url, guint *index)
{
  for (guint i = 0; i < self->relays->len; i++)
    {
      NbServiceState *s = g_ptr_array_index (self->relays, i);

      if (g_strcmp0 (s->url, url) == 0)
        {
          if (index != NULL)
            *index = i;
          return s;
        }
    }
  return NULL;
}

gboolean
nb_status_recorder_set_relay (NbStatusRecorder *self, const char *url, gboolean connected, const char *error)
{
  NbServiceState *s;

  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), FALSE);
  g_return_val_if_fail (nonempty (url) != NULL, FALSE);

  s = find_relay (self, url, NULL);
  if (s == NULL)
    {
      s = g_new0 (NbServiceState, 1);
      s->url = g_strdup (url);
      s->connected = !connected; /* so that the set below is a change */
      g_ptr_array_add (self->relays, s);
    }
  if (!service_state_set (s, url, connected, error))
    return FALSE;
  queue_event (self, EVENT_SERVICE, url, 0, NB_STATUS_SERVICE_RELAY);
  return TRUE;
}

gboolean
nb_status_recorder_remove_relay (NbStatusRecorder *self, const char *url)
{
  guint index;
  g_autofree char *copy = g_strdup (url);

  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), FALSE);

  if (find_relay (self, copy, &index) == NULL)
    return FALSE;
  g_ptr_array_remove_index (self->relays, index);
  queue_event (self, EVENT_SERVICE, copy, 0, NB_STATUS_SERVICE_RELAY);
  return TRUE;
}

const NbServiceState *
nb_status_recorder_get_management (NbStatusRecorder *self)
{
  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), NULL);
  return &self->management;
}

const NbServiceState *
nb_status_recorder_get_signal (NbStatusRecorder *self)
{
  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), NULL);
  return &self->signal;
}

GPtrArray *
nb_status_recorder_get_relays (NbStatusRecorder *self)
{
  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), NULL);
  return self->relays;
}

void
nb_status_recorder_set_rosenpass (NbStatusRecorder *self, gboolean enabled, gboolean permissive)
{
  g_return_if_fail (NB_IS_STATUS_RECORDER (self));
  self->rosenpass_enabled = enabled;
  self->rosenpass_permissive = permissive;
}

gboolean
nb_status_recorder_get_rosenpass (NbStatusRecorder *self, gboolean *permissive)
{
  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), FALSE);
  if (permissive != NULL)
    *permissive = self->rosenpass_permissive;
  return self->rosenpass_enabled;
}

gboolean
nb_status_recorder_set_local (NbStatusRecorder *self,
                              const char       *fqdn,
                              const char       *address,
                              const char       *interface_type,
                              guint             wg_port)
{
  NbLocalState *l;

  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), FALSE);

  l = &self->local;
  if (str_equal (l->fqdn, fqdn) && str_equal (l->address, address)
      && str_equal (l->interface_type, interface_type) && l->wg_port == wg_port)
    return FALSE;
  set_str (&l->fqdn, fqdn);
  set_str (&l->address, address);
  set_str (&l->interface_type, interface_type);
  l->wg_port = wg_port;
  queue_event (self, EVENT_LOCAL, NULL, 0, 0);
  return TRUE;
}

const NbLocalState *
nb_status_recorder_get_local (NbStatusRecorder *self)
{
  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), NULL);
  return &self->local;
}

char *
nb_status_recorder_format_local (NbStatusRecorder *self)
{
  const NbLocalState *l;
  g_auto (GStrv) all = NULL;
  g_autofree char *networks = NULL;
  g_autofree char *port = NULL;

  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), NULL);

  l = &self->local;
  all = nb_status_recorder_dup_networks (self);
  networks = format_networks ((const char *const *) all);
  port = l->wg_port > 0 ? g_strdup_printf ("%u", l->wg_port) : g_strdup ("N/A");
  return g_strdup_printf ("FQDN: %s\n"
                          "NetBird IP: %s\n"
                          "Interface type: %s\n"
                          "Wireguard port: %s\n"
                          "Quantum resistance: %s\n"
                          "Networks: %s\n",
                          dash (l->fqdn),
                          nonempty (l->address) ? l->address : "N/A",
                          nonempty (l->interface_type) ? l->interface_type : "N/A",
                          port,
                          !self->rosenpass_enabled ? "false"
                          : self->rosenpass_permissive ? "true (permissive)"
                          : "true",
                          networks);
}

/* NetBird's "Management: Connected to <url>" / "Disconnected, reason: ..."
 * (no URL then, as NetBird's). */
static void
append_service_line (GString *out, const char *label, const NbServiceState *s)
{
  g_string_append_printf (out, "%s: %s", label, s->connected ? "Connected" : "Disconnected");
  if (s->connected && nonempty (s->url))
    g_string_append_printf (out, " to %s", s->url);
  if (!s->connected && nonempty (s->error))
    g_string_append_printf (out, ", reason: %s", s->error);
  g_string_append_c (out, '\n');
}

char *
nb_status_recorder_format_detail (NbStatusRecorder *self, gint64 now)
{
  g_autoptr (GPtrArray) peers = NULL;
  g_autofree char *local = NULL;
  GString *out;

  g_return_val_if_fail (NB_IS_STATUS_RECORDER (self), NULL);

  out = g_string_new ("Peers detail:");
  peers = nb_status_recorder_dup_peers (self);
  for (guint i = 0; i < peers->len; i++)
    {
      g_autofree char *block = nb_peer_status_format_detail (g_ptr_array_index (peers, i), now,
                                                             self->rosenpass_enabled,
                                                             self->rosenpass_permissive);
      g_string_append (out, block);
    }
  g_string_append_c (out, '\n');

  append_service_line (out, "Management", &self->management);
  append_service_line (out, "Signal", &self->signal);
  if (self->relays->len == 0)
    {
      g_string_append (out, "Relays: 0/0 Available\n");
    }
  else
    {
      g_string_append (out, "Relays: ");
      for (guint i = 0; i < self->relays->len; i++)
        {
          const NbServiceState *s = g_ptr_array_index (self->relays, i);

          g_string_append_printf (out, "\n  [%s] is %s", s->url, s->connected ? "Available" : "Unavailable");
          if (nonempty (s->error))
            g_string_append_printf (out, ", reason: %s", s->error);
        }
      g_string_append_c (out, '\n');
    }
  local = nb_status_recorder_format_local (self);
  g_string_append (out, local);
  g_string_append_printf (out, "Peers count: %u/%u Connected\n",
                          nb_status_recorder_get_n_connected (self),
                          nb_status_recorder_get_n_peers (self));
  return g_string_free (out, FALSE);
}

/* ------------------------------------------------------------------------ */

static void
nb_status_recorder_dispose (GObject *object)
{
  NbStatusRecorder *self = NB_STATUS_RECORDER (object);

  if (self->idle != NULL)
    {
      g_source_destroy (self->idle);
      g_clear_pointer (&self->idle, g_source_unref);
    }
  g_queue_clear_full (&self->events, (GDestroyNotify) event_free);
  G_OBJECT_CLASS (nb_status_recorder_parent_class)->dispose (object);
}

static void
nb_status_recorder_finalize (GObject *object)
{
  NbStatusRecorder *self = NB_STATUS_RECORDER (object);

  g_hash_table_unref (self->peers);
  service_state_clear (&self->management);
  service_state_clear (&self->signal);
  g_ptr_array_unref (self->relays);
  g_hash_table_unref (self->networks);
  g_clear_pointer (&self->local.fqdn, g_free);
  g_clear_pointer (&self->local.address, g_free);
  g_clear_pointer (&self->local.interface_type, g_free);
  g_clear_pointer (&self->context, g_main_context_unref);
  G_OBJECT_CLASS (nb_status_recorder_parent_class)->finalize (object);
}

static void
nb_status_recorder_init (NbStatusRecorder *self)
{
  self->peers = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) nb_peer_status_free);
  self->relays = g_ptr_array_new_with_free_func ((GDestroyNotify) service_state_free);
  self->networks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_strfreev);
  self->now = default_now;
  self->context = g_main_context_ref_thread_default ();
  g_queue_init (&self->events);
}

static void
nb_status_recorder_class_init (NbStatusRecorderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = nb_status_recorder_dispose;
  object_class->finalize = nb_status_recorder_finalize;

  signals[SIGNAL_PEER_ADDED] =
    g_signal_new ("peer-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE);
  signals[SIGNAL_PEER_REMOVED] =
    g_signal_new ("peer-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE);
  signals[SIGNAL_PEER_CHANGED] =
    g_signal_new ("peer-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE, G_TYPE_UINT);
  signals[SIGNAL_SERVICE_CHANGED] =
    g_signal_new ("service-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE);
  signals[SIGNAL_LOCAL_CHANGED] =
    g_signal_new ("local-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
}
