"""The bridge: a daemon that polls devices and feeds outputs (MQTT, Prometheus, databases).

``python -m mppsolar_lib daemon -C mppsolar.conf`` reads :mod:`~mppsolar_lib.bridge.config`
(the reference's INI format, or YAML), runs one task per device in
:mod:`~mppsolar_lib.bridge.daemon`, and hands every poll's reports to one
:class:`~mppsolar_lib.bridge.sink.Sink` per (device, output): a bounded queue with retry,
backoff and an on-disk :mod:`~mppsolar_lib.bridge.spool`, so a slow or broken output never
delays polling or another output, and nothing is lost while a broker or database is down.
"""
