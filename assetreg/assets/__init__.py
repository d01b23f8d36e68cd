"""Assets (资产): registry, funding breakdown, status machine and depreciation."""
