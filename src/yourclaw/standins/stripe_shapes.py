"""What the Stripe stand-in and its HTTP side both speak: the plan's price and Stripe's error shape."""

from __future__ import annotations

PRICE_CENTS = 2000


class StripeStandinError(Exception):
    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param

    def body(self) -> dict:
        error = {"type": "invalid_request_error", "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return {"error": error}
