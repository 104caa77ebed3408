"""Dockerfile rendering: pure text from facts, placeholders strictly checked."""

import re

import pytest

from warp.core.errors import WarpError
from warp.image.render import ImageFacts, render, template_path


def stages(text):
    """The Dockerfile's stages as lists of instruction lines (comments dropped)."""
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            result.append([])
        result[-1].append(line)
    return result


def test_two_stages_on_the_same_base():
    text = render(ImageFacts(base_image="example/base:1", port=8080))
    build, final = stages(text)
    assert build[0] == "FROM example/base:1 AS build"
    assert final[0] == "FROM example/base:1"
    assert "{{" not in text


def test_final_stage_has_no_index_settings_and_copies_only_warp_and_app():
    facts = ImageFacts(base_image="b", build_env={"SSL_CERT_FILE": "/etc/warp-build/ca.pem"},
                       dependency_files=("requirements.txt",), prefetch_requirements=("requirements.txt",))
    build, final = stages(render(facts))
    assert any("SSL_CERT_FILE" in line for line in build)
    assert any("PIP_CONFIG_FILE" in line for line in build)
    final_text = "\n".join(final)
    for secret_word in ("warp-build", "PIP_", "SSL_CERT_FILE", "WHEELHOUSE", "warp/build"):
        assert secret_word not in final_text
    copies_from_build = [line for line in final if line.startswith("COPY --from=build")]
    assert [line.split()[-1] for line in copies_from_build] == ["/opt/warp", "/usr/share/warp", "/app"]
    # The SBOM tool lives in the build stage only.
    assert any("cyclonedx" in line or "sbom-requirements" in line for line in build)
    assert "sbom" not in final_text.replace("/usr/share/warp", "")


def test_health_check_start_period_and_no_start_interval_flag():
    _, final = stages(render(ImageFacts(base_image="b", start_period=130)))
    health = next(line for line in final if line.startswith("HEALTHCHECK"))
    # An engine before API 1.44 rejects --start-interval: warp sets it in the config it assembles.
    assert "--start-period=130s" in health and "--start-interval" not in health


def test_the_build_stage_ends_with_the_stage_step_given_the_source_date():
    build, _ = stages(render(ImageFacts(base_image="b:1", source_date_epoch=1700000000, base_image_id="sha256:abc",
                                        title="my app")))
    assert any("warp.image.stage --warp-env-only" in line for line in build)  # in warp's own cached layer
    step = next(line for line in build if "warp.image.stage" in line and "--warp-env-only" not in line)
    assert "--epoch 1700000000" in step and "--base-image b:1" in step and "--base-image-id sha256:abc" in step
    assert "--title 'my app'" in step
    # warp build names the environment's generation, so its paths are the same in every build.
    assert any(line.startswith("RUN WARP_ENV_ID=image /opt/warp/bin/warp build") for line in build)


def test_runtime_user_port_healthcheck_and_start():
    _, final = stages(render(ImageFacts(base_image="b", port=9123, uid=1001)))
    assert "USER 1001" in final
    assert "EXPOSE 9123" in final
    assert any(line.startswith("ENV ") and "PORT=9123" in line for line in final)
    # A UTF-8 locale every Debian-based image has, and Python told to use UTF-8 and not buffer logs.
    env_line = next(line for line in final if line.startswith("ENV ") and "PORT=9123" in line)
    for pair in ("LANG=C.UTF-8", "LC_ALL=C.UTF-8", "PYTHONIOENCODING=UTF-8", "PYTHONUNBUFFERED=1"):
        assert pair in env_line
    # An image is production: warp start refuses --reload and --debug there unless forced.
    assert any(line.startswith("ENV ") and "WARP_ENV=production" in line for line in final)
    assert any(line.startswith("HEALTHCHECK") and '"warp", "health"' in line for line in final)
    assert any(line.startswith('CMD ["warp", "start"') for line in final)
    assert 'ENTRYPOINT ["/usr/local/bin/warp-entrypoint"]' in final
    # The app's files come over owned by the fixed user with group 0.
    assert any(line.startswith("COPY --from=build --chown=1001:0 /app") for line in final)


def test_labels_are_one_instruction_after_the_app_copy():
    _, final = stages(render(ImageFacts(base_image="b", labels={"org.opencontainers.image.created": "2026-01-01T00:00:00Z", "x": 'say "hi"'})))
    assert " ".join(final[-1].split()) == 'LABEL org.opencontainers.image.created="2026-01-01T00:00:00Z" x="say \\"hi\\""'
    # Metadata sits before the app's files, so a code change leaves it cached.
    app_copy = next(i for i, line in enumerate(final) if line.startswith("COPY --from=build --chown"))
    assert app_copy == len(final) - 2
    assert all(not line.startswith(("ENV", "USER", "CMD", "EXPOSE")) for line in final[app_copy:])


def test_dependency_files_are_copied_and_fetched_before_the_source():
    facts = ImageFacts(base_image="b", dependency_files=("req/base.txt", "requirements.txt"),
                       prefetch_requirements=("requirements.txt",))
    build, _ = stages(render(facts))
    copy_dep = build.index('COPY ["app/requirements.txt", "/app/requirements.txt"]')
    assert 'COPY ["app/req/base.txt", "/app/req/base.txt"]' in build
    wheel = next(i for i, line in enumerate(build) if "pip wheel" in line)
    source = build.index("COPY app/ /app/")
    warp_build = next(i for i, line in enumerate(build) if "warp build" in line)
    assert copy_dep < wheel < source < warp_build
    assert "-r requirements.txt" in build[wheel]


def test_no_early_dependency_layer_says_why():
    text = render(ImageFacts(base_image="b", no_prefetch_reason="requirements.txt names a local path (-e .)"))
    assert "No early dependency layer: requirements.txt names a local path (-e .)." in text
    build, _ = stages(text)
    assert not any("pip wheel" in line for line in build)


def test_unknown_placeholder_is_an_error_naming_it():
    with pytest.raises(WarpError, match=r"\{\{ colour \}\}"):
        render(ImageFacts(base_image="b"), template="FROM {{ base_image }}\nLABEL c={{ colour }}\n")


def test_docker_variables_are_left_alone():
    text = render(ImageFacts(base_image="b"), template="FROM {{base_image}}\nRUN echo ${HOME} $PATH\n")
    assert text == "FROM b\nRUN echo ${HOME} $PATH\n"


def test_template_is_found_in_the_source_tree():
    assert template_path().name == "Dockerfile.template"


def test_the_build_stage_last_image_is_labelled_with_the_name_it_builds():
    build, final = stages(render(ImageFacts(base_image="b", builder_for="team/app:1")))
    assert build[-1] == 'LABEL warp.image.builder-for="team/app:1"'
    assert not any("builder-for" in line for line in final)
