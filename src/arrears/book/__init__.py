"""The loan book: products, schedules, the loan engine (accrual and allocation), APR, caps.

Pure modules: ``terms``, ``schedule``, ``engine``, ``apr``, ``caps``, ``vector``. Services that
touch the store live in ``arrears.services``. See README.md in this folder.
"""
