/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "nb-sodium.h"

#include <glib.h>
#include <sodium.h>

void
nb_sodium_init (void)
{
  static gsize initialised = 0;

  if (g_once_init_enter (&initialised))
    {
      if (sodium_init () < 0)
        g_error ("libsodium could not be initialised");
      g_once_init_leave (&initialised, 1);
    }
}
