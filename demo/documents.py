"""Brazilian company (CNPJ) and person (CPF) numbers: check digits, validation, formatting."""

import re

_NON_DIGITS = re.compile(r"\D")
_CNPJ_WEIGHTS_1 = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_WEIGHTS_2 = (6, *_CNPJ_WEIGHTS_1)


def digits(value: str) -> str:
    return _NON_DIGITS.sub("", value or "")


def _check_digit(numbers: str, weights) -> str:
    remainder = sum(int(n) * w for n, w in zip(numbers, weights, strict=True)) % 11
    return "0" if remainder < 2 else str(11 - remainder)


def cnpj_check_digits(first_twelve: str) -> str:
    first = _check_digit(first_twelve, _CNPJ_WEIGHTS_1)
    return first + _check_digit(first_twelve + first, _CNPJ_WEIGHTS_2)


def make_cnpj(base: int, branch: int = 1) -> str:
    """The 14 digits of the CNPJ with root ``base`` (8 digits) and ``branch`` (4 digits)."""
    first_twelve = f"{base % 10**8:08d}{branch % 10**4:04d}"
    return first_twelve + cnpj_check_digits(first_twelve)


def is_valid_cnpj(value: str) -> bool:
    number = digits(value)
    if len(number) != 14 or len(set(number)) == 1:
        return False
    return cnpj_check_digits(number[:12]) == number[12:]


def format_cnpj(value: str) -> str:
    n = digits(value)
    return f"{n[:2]}.{n[2:5]}.{n[5:8]}/{n[8:12]}-{n[12:]}" if len(n) == 14 else value


def cpf_check_digits(first_nine: str) -> str:
    first = _check_digit(first_nine, range(10, 1, -1))
    return first + _check_digit(first_nine + first, range(11, 1, -1))


def make_cpf(base: int) -> str:
    first_nine = f"{base % 10**9:09d}"
    return first_nine + cpf_check_digits(first_nine)


def is_valid_cpf(value: str) -> bool:
    number = digits(value)
    if len(number) != 11 or len(set(number)) == 1:
        return False
    return cpf_check_digits(number[:9]) == number[9:]


def format_cpf(value: str) -> str:
    n = digits(value)
    return f"{n[:3]}.{n[3:6]}.{n[6:9]}-{n[9:]}" if len(n) == 11 else value
