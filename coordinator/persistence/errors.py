"""Typed store errors: database errors are translated here, at the edge, and nowhere else."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc


class StoreError(Exception):
    """Anything the store could not do."""


class StoreUnavailable(StoreError):
    """The database cannot be reached (or refused the connection)."""


class SchemaNotCurrent(StoreError):
    """The schema is missing or older than the code: run ``ccp db upgrade``."""


class Conflict(StoreError):
    """A uniqueness or concurrency conflict: the row exists, or changed under us."""


class NotFound(StoreError):
    """The row asked for does not exist."""


class LeaseHeld(StoreError):
    """Another coordinator holds the lease."""


class LeaseLost(StoreError):
    """This coordinator no longer holds the lease (it expired and was taken over)."""


@contextmanager
def translate_errors() -> Iterator[None]:
    try:
        yield
    except exc.IntegrityError as e:
        raise Conflict(_first_line(e)) from e
    except exc.OperationalError as e:
        text = str(e.orig) if e.orig is not None else str(e)
        if "no such table" in text or ("does not exist" in text and "relation" in text):
            raise SchemaNotCurrent(f"the schema is missing or old ({_first_line(e)}): "
                                   "run `ccp db upgrade`") from e
        if "could not serialize" in text or "deadlock" in text or "database is locked" in text:
            raise Conflict(_first_line(e)) from e
        raise StoreUnavailable(_first_line(e)) from e
    except exc.ProgrammingError as e:
        text = str(e.orig) if e.orig is not None else str(e)
        if "does not exist" in text:
            raise SchemaNotCurrent(f"the schema is missing or old ({_first_line(e)}): "
                                   "run `ccp db upgrade`") from e
        raise StoreError(_first_line(e)) from e
    except exc.DBAPIError as e:
        raise StoreError(_first_line(e)) from e


def _first_line(e: Exception) -> str:
    orig = getattr(e, "orig", None)
    return (str(orig) if orig is not None else str(e)).strip().splitlines()[0]
