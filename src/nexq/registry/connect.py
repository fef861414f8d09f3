"""What the console shows people to connect their tools to a registry: ``docker login``,
CI pipelines and a Kubernetes pull secret, ready to paste.

Written here rather than in the templates because the CI snippets are full of ``${{ }}``
and ``$VARIABLES`` that a template language would take for its own.
"""

from __future__ import annotations

from dataclasses import dataclass

# The CI secret the snippets read the token from: the user creates it under this name.
CI_VARIABLE = "NEXQ_REGISTRY_TOKEN"
TOKEN_PLACEHOLDER = "<token>"  # noqa: S105 - what snippets show until a token exists
USERNAME_PLACEHOLDER = "<username>"


def _quoted(value: str) -> str:
    """``value`` as one shell word (usernames hold a '+', tokens only letters and digits)."""
    return "'" + value.replace("'", "'\"'\"'") + "'"


@dataclass(frozen=True, slots=True)
class Connect:
    """A registry as its clients reach it: ``host`` (``host:port``) and its name."""

    host: str
    registry: str
    username: str = USERNAME_PLACEHOLDER
    token: str = TOKEN_PLACEHOLDER

    @property
    def prefix(self) -> str:
        """What every image name of the registry starts with."""
        return f"{self.host}/{self.registry}"

    def image(self, repository: str = "app", tag: str = "latest") -> str:
        return f"{self.prefix}/{repository}:{tag}"

    def docker_login(self) -> str:
        """Log in (the token on standard input, never in the shell's history), push, pull."""
        return (
            f"echo {_quoted(self.token)} | docker login {self.host} "
            f"--username {_quoted(self.username)} --password-stdin\n"
            f"docker tag app:latest {self.image()}\n"
            f"docker push {self.image()}\n"
            f"docker pull {self.image()}"
        )

    def github_actions(self) -> str:
        image = f"{self.prefix}/app:${{{{ github.sha }}}}"
        return (
            f"# Save the token as a repository secret named {CI_VARIABLE} first.\n"
            "- uses: docker/login-action@v3\n"
            "  with:\n"
            f"    registry: {self.host}\n"
            f"    username: {self.username}\n"
            f"    password: ${{{{ secrets.{CI_VARIABLE} }}}}\n"
            "- uses: docker/build-push-action@v6\n"
            "  with:\n"
            "    push: true\n"
            f"    tags: {image}"
        )

    def gitlab_ci(self) -> str:
        return (
            f"# Save the token as a masked CI/CD variable named {CI_VARIABLE} first.\n"
            "build-image:\n"
            "  image: docker:27\n"
            "  services: [docker:27-dind]\n"
            "  variables:\n"
            f"    IMAGE: {self.prefix}/app:$CI_COMMIT_SHORT_SHA\n"
            "  script:\n"
            f'    - echo "${CI_VARIABLE}" | docker login {self.host} '
            f"--username {_quoted(self.username)} --password-stdin\n"
            '    - docker build -t "$IMAGE" .\n'
            '    - docker push "$IMAGE"'
        )

    def kubectl_secret(self, secret: str | None = None) -> str:
        """A pull secret for pods (``imagePullSecrets``)."""
        return (
            f"kubectl create secret docker-registry {secret or self.registry + '-pull'} \\\n"
            f"  --docker-server={self.host} \\\n"
            f"  --docker-username={_quoted(self.username)} \\\n"
            f"  --docker-password={_quoted(self.token)}"
        )
