"""The borrower simulator (借款人模拟器): a lender in a box."""
