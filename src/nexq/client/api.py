"""``NexqClient``: one method per endpoint of ``/v1`` (docs/api.md), answers as decoded JSON.

The client holds a bearer token; it never logs, prints or puts it in a ``repr`` or an error.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Literal, TypedDict, cast

import httpx

from nexq.client.bucket_settings import BucketSettingsClient, ObjectLock
from nexq.client.compute import ComputeClient
from nexq.client.databases import DatabasesClient
from nexq.client.disk_copies import DiskCopiesClient
from nexq.client.instances import InstancesClient
from nexq.client.kms_keys import KmsKeysClient
from nexq.client.paths import segment as _seg
from nexq.client.registry import RegistryClient

DEFAULT_TIMEOUT = 30.0


class Account(TypedDict):
    id: str
    email: str
    role: Literal["customer", "operator"]
    status: Literal["active", "suspended"]
    created_at: str


class Login(TypedDict):
    token: str
    expires_at: str
    account: Account


class ApiKey(TypedDict):
    id: str
    name: str
    description: str | None
    scopes: list[str]
    status: Literal["Active", "Revoked"]
    created_at: str
    last_used_at: str | None


class ApiKeyWithToken(ApiKey):
    token: str


class StorageInfo(TypedDict):
    s3_endpoint: str
    region: str


class Bucket(TypedDict):
    name: str
    created_at: str
    object_count: int
    stored_bytes: int
    object_lock: ObjectLock


class Object(TypedDict):
    key: str
    size: int
    etag: str
    last_modified: str


class ObjectListing(TypedDict):
    """Every page of an object listing: its objects and its common prefixes, in order."""

    items: list[Object]
    prefixes: list[str]


class Presigned(TypedDict):
    url: str
    method: Literal["GET", "PUT"]
    expires_at: str


class AccessKey(TypedDict):
    access_key_id: str
    label: str
    buckets: Literal["all"] | list[str]
    status: Literal["Active", "Revoked"]
    created_at: str


class AccessKeyWithSecret(AccessKey):
    secret_access_key: str


class Usage(TypedDict):
    period: dict[str, str]
    buckets: list[dict[str, Any]]
    totals: dict[str, int]


class ClientError(Exception):
    """Anything that kept a request from getting a usable answer."""


class ApiError(ClientError):
    """A non-2xx answer, described by its RFC 9457 problem body when there is one."""

    def __init__(self, status: int, type: str, detail: str, body: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.type = type
        self.detail = detail
        self.body = body

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        body: Any
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if isinstance(body, dict):
            type_ = str(body.get("type") or "about:blank")
            detail = body.get("detail") or body.get("title")
        else:
            type_ = "about:blank"
            detail = None
        if not detail:
            # A proxy or a crashed server answers HTML or nothing: the status line is all
            # a person can act on.
            reason = response.reason_phrase or "error"
            detail = f"HTTP {response.status_code} {reason}"
        return cls(response.status_code, type_, str(detail), body)


class Unreachable(ClientError):
    """The API could not be reached at all (refused, DNS, TLS, timeout …)."""


class NexqClient(
    BucketSettingsClient,
    KmsKeysClient,
    RegistryClient,
    DatabasesClient,
    ComputeClient,
    InstancesClient,
    DiskCopiesClient,
):
    """A synchronous client of one Nexq API endpoint, authenticated by one bearer token."""

    def __init__(
        self,
        api_url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        page_size: int | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.page_size = page_size
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            self._http = httpx.Client(
                base_url=self.api_url, headers=headers, timeout=timeout, transport=transport
            )
        except (httpx.InvalidURL, ValueError) as exc:
            raise ClientError(f"invalid API URL {api_url!r}: {exc}") from None

    def __repr__(self) -> str:
        return f"NexqClient({self.api_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NexqClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        text: str | None = None,
    ) -> Any:
        """``body`` is sent as JSON; ``text`` (JSON already written) is sent as it is."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        raw: dict[str, Any] = (
            {"content": text.encode(), "headers": {"Content-Type": "application/json"}}
            if text is not None
            else {"json": body}
        )
        response = self._send(method, path, params=query or None, **raw)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ClientError(
                f"the API answered {response.status_code} with a body that is not JSON"
            ) from None

    def _download(self, path: str) -> bytes:
        """A document that is not JSON (a PDF, a PEM file), as its bytes."""
        return self._send("GET", path).content

    def _send(self, method: str, path: str, **request: Any) -> httpx.Response:
        """A successful answer to ``method /v1{path}``; any other is raised as a ClientError."""
        try:
            response = self._http.request(method, f"/v1{path}", **request)
        except httpx.TransportError as exc:
            # The exception text names the host, never the headers, so it cannot leak a token.
            raise Unreachable(f"cannot reach {self.api_url}: {exc or type(exc).__name__}") from None
        except httpx.InvalidURL as exc:
            raise ClientError(f"invalid API URL {self.api_url!r}: {exc}") from None
        if "x-amz-request-id" in response.headers:
            raise Unreachable(
                f"{self.api_url} is not a Nexq API: it answered as an S3 endpoint. Use the "
                "control plane's URL (port 8080 by default), not the S3 one"
            )
        if not response.is_success:
            raise ApiError.from_response(response)
        return response

    def _pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = self._request(
                "GET", path, params={**(params or {}), "limit": self.page_size, "cursor": cursor}
            )
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise ClientError(f"the API answered GET /v1{path} with a page without items")
            yield page
            cursor = page.get("next_cursor")
            if cursor is None:
                return
            # A server that hands back a cursor twice would otherwise loop forever.
            if cursor in seen:
                raise ClientError(f"the API repeated a cursor listing /v1{path}")
            seen.add(cursor)

    def _list(self, path: str, params: dict[str, Any] | None = None) -> list[Any]:
        items: list[Any] = []
        for page in self._pages(path, params):
            items.extend(page["items"])
        return items

    # -- accounts and sessions --------------------------------------------------------

    def health(self) -> dict[str, str]:
        """The server's status and version: answers only if this is a Nexq API."""
        return cast(dict[str, str], self._request("GET", "/health"))

    def server_clock(self) -> float | None:
        """The server's time (its Date header, to the second), or None if it sent none."""
        date = self._send("GET", "/health").headers.get("date")
        if not date:
            return None
        try:
            return email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return None

    def signup(self, email: str, password: str) -> Account:
        return cast(
            Account, self._request("POST", "/signup", body={"email": email, "password": password})
        )

    def login(self, email: str, password: str) -> Login:
        return cast(
            Login, self._request("POST", "/login", body={"email": email, "password": password})
        )

    def logout(self) -> None:
        """End the session whose token this client holds."""
        self._request("POST", "/logout")

    def account(self) -> Account:
        return cast(Account, self._request("GET", "/account"))

    def change_password(self, current_password: str, new_password: str) -> None:
        self._request(
            "POST",
            "/account/password",
            body={"current_password": current_password, "new_password": new_password},
        )

    def delete_account(self, password: str) -> None:
        """Delete the account for good (refused while it holds resources)."""
        self._request("DELETE", "/account", body={"password": password})

    # -- API keys ---------------------------------------------------------------------

    def list_api_keys(self) -> list[ApiKey]:
        return self._list("/api-keys")

    def create_api_key(
        self, name: str, description: str | None = None, scopes: list[str] | None = None
    ) -> ApiKeyWithToken:
        """``scopes=None`` leaves the field out: the key gets every scope of the caller."""
        body: dict[str, Any] = {"name": name}
        if description is not None:
            body["description"] = description
        if scopes is not None:
            body["scopes"] = scopes
        return cast(ApiKeyWithToken, self._request("POST", "/api-keys", body=body))

    def get_api_key(self, key_id: str) -> ApiKey:
        return cast(ApiKey, self._request("GET", f"/api-keys/{_seg(key_id)}"))

    def revoke_api_key(self, key_id: str) -> ApiKey:
        return cast(ApiKey, self._request("POST", f"/api-keys/{_seg(key_id)}/revoke"))

    def regenerate_api_key(self, key_id: str) -> ApiKeyWithToken:
        return cast(ApiKeyWithToken, self._request("POST", f"/api-keys/{_seg(key_id)}/regenerate"))

    def delete_api_key(self, key_id: str) -> None:
        self._request("DELETE", f"/api-keys/{_seg(key_id)}")

    # -- storage ----------------------------------------------------------------------

    def storage(self) -> StorageInfo:
        return cast(StorageInfo, self._request("GET", "/storage"))

    def list_buckets(self) -> list[Bucket]:
        return self._list("/storage/buckets")

    def create_bucket(self, name: str, object_lock: bool = False) -> Bucket:
        """``object_lock``: versioned and lockable for good (it cannot be turned off)."""
        body: dict[str, Any] = {"name": name}
        if object_lock:
            body["object_lock"] = True
        return cast(Bucket, self._request("POST", "/storage/buckets", body=body))

    def get_bucket(self, name: str) -> Bucket:
        return cast(Bucket, self._request("GET", f"/storage/buckets/{_seg(name)}"))

    def delete_bucket(self, name: str) -> None:
        self._request("DELETE", f"/storage/buckets/{_seg(name)}")

    def list_objects(
        self, bucket: str, prefix: str | None = None, delimiter: str | None = None
    ) -> ObjectListing:
        listing: ObjectListing = {"items": [], "prefixes": []}
        seen: set[str] = set()
        params = {"prefix": prefix, "delimiter": delimiter}
        for page in self._pages(f"/storage/buckets/{_seg(bucket)}/objects", params):
            listing["items"].extend(page["items"])
            for common in page.get("prefixes") or []:
                if common not in seen:
                    seen.add(common)
                    listing["prefixes"].append(common)
        return listing

    def delete_object(self, bucket: str, key: str, version_id: str | None = None) -> None:
        """Delete an object, or with ``version_id`` that one version for good."""
        self._request(
            "DELETE",
            f"/storage/buckets/{_seg(bucket)}/objects/{_seg(key)}",
            params={"version_id": version_id},
        )

    def presign(
        self,
        bucket: str,
        key: str,
        method: Literal["GET", "PUT"] = "GET",
        expires_in: int | None = None,
    ) -> Presigned:
        body: dict[str, Any] = {"key": key, "method": method}
        if expires_in is not None:
            body["expires_in"] = expires_in
        return cast(
            Presigned, self._request("POST", f"/storage/buckets/{_seg(bucket)}/presign", body=body)
        )

    def revoke_share_links(self) -> None:
        """Every presigned URL made through the API or console stops working."""
        self._request("POST", "/storage/share-links/revoke")

    def list_access_keys(self) -> list[AccessKey]:
        return self._list("/storage/access-keys")

    def create_access_key(
        self, label: str, buckets: list[str] | None = None
    ) -> AccessKeyWithSecret:
        """``buckets=None`` makes an All Buckets key."""
        body = {"label": label, "buckets": "all" if buckets is None else buckets}
        return cast(AccessKeyWithSecret, self._request("POST", "/storage/access-keys", body=body))

    def revoke_access_key(self, access_key_id: str) -> AccessKey:
        return cast(
            AccessKey,
            self._request("POST", f"/storage/access-keys/{_seg(access_key_id)}/revoke"),
        )

    def delete_access_key(self, access_key_id: str) -> None:
        self._request("DELETE", f"/storage/access-keys/{_seg(access_key_id)}")

    def usage(self, month: str | None = None) -> Usage:
        return cast(Usage, self._request("GET", "/storage/usage", params={"month": month}))

    # -- limits and billing -----------------------------------------------------------

    def limits(self) -> dict[str, Any]:
        return cast(dict[str, Any], self._request("GET", "/account/limits"))

    def change_tier(self, tier: str) -> dict[str, Any]:
        return cast(dict[str, Any], self._request("PUT", "/account/tier", body={"tier": tier}))

    def tiers(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self._request("GET", "/tiers"))

    def estimate(self, month: str | None = None) -> dict[str, Any]:
        return cast(
            dict[str, Any], self._request("GET", "/billing/estimate", params={"month": month})
        )

    def invoices(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self._request("GET", "/billing/invoices"))

    def invoice_pdf(self, invoice_id: str) -> bytes:
        return self._download(f"/billing/invoices/{_seg(invoice_id)}/pdf")

    # -- support ----------------------------------------------------------------------

    def support_tickets(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self._request("GET", "/support/tickets"))

    def open_ticket(
        self, subject: str, service: str, severity: str, description: str
    ) -> dict[str, Any]:
        body = {
            "subject": subject,
            "service": service,
            "severity": severity,
            "description": description,
        }
        return cast(dict[str, Any], self._request("POST", "/support/tickets", body=body))

    def support_ticket(self, ticket_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], self._request("GET", f"/support/tickets/{_seg(ticket_id)}"))

    def reply_ticket(
        self, ticket_id: str, body: str, files: list[tuple[str, bytes]] | None = None
    ) -> dict[str, Any]:
        """A reply; with ``files`` ((name, content) pairs), sent as a multipart upload."""
        path = f"/support/tickets/{_seg(ticket_id)}"
        if not files:
            return cast(
                dict[str, Any], self._request("POST", f"{path}/replies", body={"body": body})
            )
        try:
            response = self._http.post(
                f"/v1{path}/attachments",
                data={"body": body},
                files=[("files", (name, content)) for name, content in files],
            )
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach {self.api_url}: {exc or type(exc).__name__}") from None
        if not response.is_success:
            raise ApiError.from_response(response)
        return cast(dict[str, Any], response.json())

    def close_ticket(self, ticket_id: str) -> dict[str, Any]:
        path = f"/support/tickets/{_seg(ticket_id)}/close"
        return cast(dict[str, Any], self._request("POST", path))

    def reopen_ticket(self, ticket_id: str) -> dict[str, Any]:
        path = f"/support/tickets/{_seg(ticket_id)}/reopen"
        return cast(dict[str, Any], self._request("POST", path))

    # -- operators --------------------------------------------------------------------

    def list_accounts(self, email: str | None = None) -> list[Account]:
        return self._list("/admin/accounts", {"email": email})

    def suspend_account(self, account_id: str) -> Account:
        return cast(Account, self._request("POST", f"/admin/accounts/{_seg(account_id)}/suspend"))

    def resume_account(self, account_id: str) -> Account:
        return cast(Account, self._request("POST", f"/admin/accounts/{_seg(account_id)}/resume"))
