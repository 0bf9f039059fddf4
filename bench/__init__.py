"""`make bench`: the bundle measured against the minimum its work needs, side by side.

Sections (each one module): cold start (`coldstart`), AWS calls per unit of work (`awscalls`
and `units`), warm webhook latency against bare boto3 on the same moto server (`latency`),
a burst through the full local stack (`burst`) and the AWS cost of 1,000 conversations
(`cost`). `run` ties them into one table. Benchmarks print figures; nothing here asserts a
time.
"""
