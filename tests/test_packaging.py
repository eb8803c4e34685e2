"""scene3d installs as a wheel and runs outside its repository: configs and the packaged model
travel with it (a fresh virtual environment that sees this machine's other packages)."""

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_repository(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(REPO)], check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("scene3d-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "scene3d/pretrained/grounding/model.safetensors" in names
    assert "scene3d_viewer/app.py" in names                 # the top-level viewer/ folder's package
    assert {f"scene3d-0.1.0.data/data/share/scene3d/configs/{p.name}" for p in (REPO / "configs").glob("*.yaml")} <= names
    env_dir = tmp_path / "env"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}   # the installed wheel, not a checkout
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True, capture_output=True, timeout=300, env=env)
    run = lambda *args: subprocess.run([str(python), *args], cwd=tmp_path, capture_output=True,  # noqa: E731
                                       text=True, timeout=300, env=env)
    where = run("-c", "import scene3d, scene3d.config as c; print(scene3d.__file__); print(c.config_dir())")
    assert where.returncode == 0, where.stderr
    module, configs = where.stdout.split()
    assert str(env_dir) in module and configs == str(env_dir / "share" / "scene3d" / "configs")
    help_ = run("-m", "scene3d.cli", "generate", "--help")
    assert help_.returncode == 0 and "num_scenes" in help_.stdout, help_.stderr
    packaged = run("-c", "from scene3d.grounding.grounder import PRETRAINED as P; print(P, (P / 'model.safetensors').is_file())")
    assert packaged.stdout.split() == [str(env_dir / "lib" / "python3.11" / "site-packages" / "scene3d" / "pretrained"
                                           / "grounding"), "True"], packaged.stderr
