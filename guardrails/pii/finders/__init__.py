"""One module per family of built-in PII types, each a candidate pattern plus its validators.

``cards`` (Luhn, issued ranges), ``iban`` (mod-97, country lengths), ``ssn`` (the SSA's rules),
``phone`` (national and international numbers via :mod:`guardrails.pii.phones`), ``net`` (email,
IP, MAC, URL, crypto) and ``custom`` (``detector=``, Presidio entities, NLP types). They share
:mod:`guardrails.pii.context`; :mod:`guardrails.pii.detect` puts them together.
"""
