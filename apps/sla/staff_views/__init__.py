"""The publisher staff's SLA desk: every customer's clocks at risk and
breached, a drill-down per customer, waivers awaiting a second pair of eyes,
credits owed and the policies' versions.

Reads come from the selectors, writes go through the services; a service's
refusal is shown on the form (or as a message) and nothing is written.
"""
