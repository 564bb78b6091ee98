"""Scale-out engine: anonymize / recover datasets on a Ray cluster, resumable and exactly-once.

    from faceveil import scale
    summary = scale.anonymize("photos/", "s3://bucket/anon/", recipients=["me.key.pub"],
                              cluster=scale.ClusterOptions(engine="ray", address="auto", workers=64))
    summary = scale.recover("s3://bucket/anon/", "restored/", private_keys=["me.key"])

Pieces: ``location`` (local folders and fsspec URLs, lazy listing), ``manifest`` (JSON Lines beside
the outputs, resume state), ``worker`` (the Ray actor: models loaded once, single-file code path per
item; ``BatchWorker`` is the Ray Data class), ``keys`` (what secrets reach workers, wrapped how; the key
broker), ``driver`` (the Ray Data pipeline, the manifest as outcomes stream back, summary). Design and numbers: docs/scale.md. Importing this package does not import Ray.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from faceveil.scale.job import AnonymizeSettings, ClusterOptions, Job, RecoverSettings

__all__ = ["AnonymizeSettings", "ClusterOptions", "RecoverSettings", "anonymize", "recover"]


def anonymize(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    cluster: ClusterOptions = ClusterOptions(engine="ray"),
    passphrase: str | bytes | None = None,
    recipients: Iterable = (),
    settings: AnonymizeSettings = AnonymizeSettings(),
    output_format: str | None = None,
    overwrite: bool = False,
    argon2_params=None,
    progress: bool = True,
    on_record=None,
):
    """Anonymize every image/video under ``src`` into ``dst`` (mirrored tree) on Ray; returns a
    ``driver.Summary``. Re-running the same call resumes: finished files are skipped, failed ones
    retried. Argon2id runs once here; workers get only the derived, wrapped secret (scale.keys)."""
    from faceveil.api import make_recipients
    from faceveil.crypto.keys import PassphraseKey, X25519Recipient
    from faceveil.scale import driver
    from faceveil.scale.location import Location
    from faceveil.scale.manifest import new_run_id

    _check_format(output_format)
    keys = make_recipients(passphrase, recipients, argon2_params) if settings.payload != "none" else []
    if settings.payload != "none" and not keys:
        from faceveil.errors import KeyMaterialError

        raise KeyMaterialError("no key for the recovery payload: give a passphrase or --recipient PUBLIC_KEY, "
                               "or use --payload none (irreversible)")
    public = tuple(k.to_pem() for k in keys if isinstance(k, X25519Recipient))
    passphrase_key = next((k for k in keys if isinstance(k, PassphraseKey)), None)
    secrets = driver.DriverSecrets()
    salt = argon2 = None
    if passphrase_key is not None:
        salt, params = passphrase_key.salt, passphrase_key.params
        argon2 = (params.time_cost, params.memory_kib, params.parallelism)
        secrets.seal_master = passphrase_key.master_secret(salt, params)
    _apply_storage_options(cluster, src, dst)
    job = Job("anonymize", Location.parse(src), Location.parse(dst), new_run_id(), output_format,
              anonymize=settings, public_keys=public, passphrase_salt=salt, argon2=argon2)
    description = {"method": settings.method, "method_options": settings.method_options, "payload": settings.payload,
                   "recipients": [X25519Recipient.from_bytes(p).key_id for p in public]
                   + (["passphrase"] if passphrase_key else []), "format": output_format,
                   # public (every file carries them too): recover derives this salt before its workers start
                   "passphrase_salt": salt.hex() if salt else None, "argon2": list(argon2) if argon2 else None}
    return driver.run(job, cluster, secrets, overwrite=overwrite, progress=progress, description=description,
                      on_record=on_record)


def recover(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    cluster: ClusterOptions = ClusterOptions(engine="ray"),
    passphrase: str | bytes | None = None,
    private_keys: Iterable = (),
    key_passphrase: str | bytes | None = None,
    settings: RecoverSettings = RecoverSettings(),
    output_format: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    on_record=None,
):
    """Recover every anonymized file under ``src`` into ``dst`` on Ray (resumable like ``anonymize``).
    Private keys are sent to workers wrapped; a passphrase never leaves the driver: the secret of each
    salt met in the files is derived here once and sent wrapped."""
    from faceveil.api import make_identities
    from faceveil.crypto.keys import PassphraseKey, X25519Identity
    from faceveil.errors import InputError
    from faceveil.scale import driver
    from faceveil.scale.location import Location
    from faceveil.scale.manifest import new_run_id

    _check_format(output_format)
    if settings.method_options and not settings.from_pixels:
        raise InputError("method options (-O) only apply to --from-pixels recovery; the exact payload needs none")
    identities = make_identities(passphrase, private_keys, key_passphrase)
    secrets = driver.DriverSecrets(
        opener=next((i for i in identities if isinstance(i, PassphraseKey)), None),
        identities=[i for i in identities if isinstance(i, X25519Identity)],
    )
    _apply_storage_options(cluster, src, dst)
    job = Job("recover", Location.parse(src), Location.parse(dst), new_run_id(), output_format, recover=settings,
              passphrase_recovery=secrets.opener is not None, private_keys=len(secrets.identities))
    description = {"from_pixels": settings.from_pixels, "format": output_format,
                   "keys": [i.key_id for i in secrets.identities] + (["passphrase"] if secrets.opener else [])}
    return driver.run(job, cluster, secrets, overwrite=overwrite, progress=progress, description=description,
                      on_record=on_record)


def _apply_storage_options(cluster: ClusterOptions, *urls) -> None:
    """--storage-option on the driver: the same fsspec configuration the workers get via runtime_env."""
    if not cluster.storage_options:
        return
    import fsspec.config

    protocols = [os.fspath(u).split("://", 1)[0] for u in urls if "://" in os.fspath(u)]
    for name, value in cluster.fsspec_env(protocols).items():
        import json

        fsspec.config.conf.setdefault(name[len("FSSPEC_"):].lower(), {}).update(json.loads(value))


def _check_format(output_format: str | None) -> None:
    if output_format is not None:
        from pathlib import Path

        from faceveil.io.images import format_for_path

        format_for_path(Path("x." + output_format.lower().lstrip(".")))  # validates the name early
