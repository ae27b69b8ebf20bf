"""Check for Java 17 or 21 before anything starts a JVM."""

from __future__ import annotations

import os
import re
import subprocess

from carrental.errors import EnvironmentProblem
from spark_ingest.submit import java_executable

SUPPORTED_JAVA = (17, 21)
INSTALL_HINT = (
    "install a Java 17 or 21 runtime (Debian/Ubuntu: `sudo apt-get install openjdk-17-jre-headless`; "
    "macOS: `brew install openjdk@17`) and put it on PATH or set JAVA_HOME"
)


def java_major_version(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    text = out.stderr + out.stdout
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        raise EnvironmentProblem(
            f"could not read the Java version from `{java} -version`", INSTALL_HINT
        )
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def ensure_java() -> int:
    """Return the Java major version, or raise a one-line error saying how to install it.

    Checks the java Spark's launcher runs (:func:`java_executable`): ``$JAVA_HOME/bin/java``
    whenever JAVA_HOME is set, even if another java is on PATH.
    """
    home = os.environ.get("JAVA_HOME")
    java = java_executable()
    if java is None and home:
        raise EnvironmentProblem(
            f"JAVA_HOME is {home}, but {os.path.join(home, 'bin', 'java')} does not exist or "
            "is not executable (Spark runs $JAVA_HOME/bin/java whenever JAVA_HOME is set)",
            f"{INSTALL_HINT}; point JAVA_HOME at that install, or unset JAVA_HOME to use "
            "the java on PATH",
        )
    if java is None:
        raise EnvironmentProblem("Java was not found: Spark 4 needs Java 17 or 21", INSTALL_HINT)
    major = java_major_version(java)
    if major not in SUPPORTED_JAVA:
        where = f" (JAVA_HOME is {home})" if home else ""
        raise EnvironmentProblem(
            f"Java {major} found at {java}{where}, but Spark 4.0 needs Java 17 or 21",
            INSTALL_HINT,
        )
    return major


def main() -> int:
    """``python -m carrental.java``: exit 4 with a one-line hint unless Java 17/21 is found."""
    import sys

    try:
        ensure_java()
    except EnvironmentProblem as exc:
        print(f"error: {exc.message}\nhint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
