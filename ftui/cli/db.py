"""`ftui db current|upgrade`: where the store's schema stands, and upgrading it explicitly."""

from __future__ import annotations

import argparse

from ftui.cli.common import EXIT_OK, emit, group, leaf, settings_for

ORDER = 90


def _url(args: argparse.Namespace) -> str:
    return settings_for(args).database_url


def cmd_db_current(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import DatabaseError

    from ftui.store.db import open_store, schema_state, store_failure

    url = _url(args)
    store = open_store(url, create=False, check=False)  # only look: no upgrade on open
    try:
        state = schema_state(store.engine)
    except DatabaseError as err:
        raise store_failure(err, url) from err
    finally:
        store.close()
    payload = {"store": store.url, **state}

    def human() -> None:
        print(f"store:    {store.url}")
        print(f"revision: {state['revision'] or 'none (made before migrations)'}")
        print(f"this ftui: {state['head']}")
        if state["newer"]:
            print("the store is NEWER than this ftui: upgrade ftui (pip install -U ftui)")
        elif state["pending"]:
            print(f"behind by {len(state['pending'])}: {', '.join(state['pending'])}")
            print("upgrade with: ftui db upgrade (any ftui command also upgrades on open, "
                  "unless FTUI_DB_AUTO_UPGRADE=0)")
        else:
            print("up to date")

    emit(args, payload, human)
    return EXIT_OK


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from ftui.store.db import masked_url, upgrade_store

    url = _url(args)
    done = upgrade_store(url)

    def human() -> None:
        if done["applied"]:
            print(f"upgraded {masked_url(url)} from {done['from'] or 'before migrations'} to "
                  f"{done['to']} ({len(done['applied'])} revision(s): "
                  f"{', '.join(done['applied'])})")
        else:
            print(f"{masked_url(url)} is up to date ({done['to']}): nothing to do")

    emit(args, {"store": masked_url(url), **done}, human)
    return EXIT_OK


def register(sub) -> None:
    g = group(sub, "db", help="the store's schema: current revision, upgrade",
              description="The store's schema (Alembic revisions shipped with ftui). Opening a "
                          "store upgrades it under a lock unless FTUI_DB_AUTO_UPGRADE=0; "
                          "operators of a shared store can upgrade explicitly here.")
    leaf(g, "current", cmd_db_current, help="the store's revision, this ftui's, what is pending")
    leaf(g, "upgrade", cmd_db_upgrade,
         help="apply this ftui's pending revisions (under the migration lock)")
