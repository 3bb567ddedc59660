# What the runners' setup scripts (runners/flink, runners/spark) share to put
# a Beam job server jar, and the runner's own distribution, in the cache from
# the package registries only. Sourced, not run:
#
#   source "$HERE/../lib/jobserver.sh"
#   jobserver_init spark                  # CACHE, BUILD, PY, MVN, log()

# jobserver_init NAME
# Sets CACHE (${SALES_CACHE:-~/.cache/sales-pipeline}/NAME), BUILD, PY (the
# project's venv Python unless PYTHON is set), log() (stderr, prefixed
# [NAME-setup]) and MVN (batch-mode mvn whose settings route every
# repository a Beam pom declares to Maven Central itself).
jobserver_init() {
  local name="$1" repo_root
  CACHE="${SALES_CACHE:-$HOME/.cache/sales-pipeline}/$name"
  BUILD="$CACHE/build"
  PY="${PYTHON:-}"
  repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  if [[ -z "$PY" ]]; then
    if [[ -x "$repo_root/.venv/bin/python" ]]; then PY="$repo_root/.venv/bin/python"; else PY=python3; fi
  fi
  JOBSERVER_LOG_PREFIX="[$name-setup]"
  mkdir -p "$CACHE" "$BUILD"
  MVN=(mvn -B -q -s "$BUILD/settings.xml")
  cat > "$BUILD/settings.xml" <<'XML'
<settings>
  <mirrors>
    <mirror>
      <id>central-only</id>
      <mirrorOf>*</mirrorOf>
      <url>https://repo.maven.apache.org/maven2</url>
    </mirror>
  </mirrors>
</settings>
XML
}

log() { echo "$JOBSERVER_LOG_PREFIX $*" >&2; }

# pypi_sdist PACKAGE VERSION [NOTE]
# Prints the path of PACKAGE==VERSION's sdist under $BUILD/pypi, downloading
# it with pip first when it is not there (NOTE, e.g. its size, is logged).
pypi_sdist() {
  local package="$1" version="$2" note="${3:-}" dl="$BUILD/pypi" sdist
  mkdir -p "$dl"
  sdist="$dl/$package-$version.tar.gz"
  if [[ ! -f "$sdist" ]]; then
    log "downloading $package==$version from PyPI${note:+ ($note)} ..."
    "$PY" -m pip download --quiet --no-deps -d "$dl" "$package==$version" >&2 || return 1
  fi
  echo "$sdist"
}

# shade_plugin MAIN_CLASS MANIFEST_ENTRIES [EXTRA_FILTERS [EXTRA_TRANSFORMERS]]
# Prints the maven-shade-plugin <plugin> that makes the job server one jar:
# signatures and module-info dropped, META-INF/services merged, MAIN_CLASS
# and MANIFEST_ENTRIES (XML) in the manifest.
shade_plugin() {
  local main="$1" entries="$2" filters="${3:-}" transformers="${4:-}"
  cat <<XML
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-shade-plugin</artifactId>
        <version>3.5.1</version>
        <executions>
          <execution>
            <phase>package</phase>
            <goals><goal>shade</goal></goals>
            <configuration>
              <createDependencyReducedPom>false</createDependencyReducedPom>
              <filters>
                <filter>
                  <artifact>*:*</artifact>
                  <excludes>
                    <exclude>META-INF/*.SF</exclude>
                    <exclude>META-INF/*.DSA</exclude>
                    <exclude>META-INF/*.RSA</exclude>
                    <exclude>module-info.class</exclude>
                  </excludes>
                </filter>
$filters
              </filters>
              <transformers>
                <transformer implementation="org.apache.maven.plugins.shade.resource.ServicesResourceTransformer"/>
$transformers
                <transformer implementation="org.apache.maven.plugins.shade.resource.ManifestResourceTransformer">
                  <mainClass>$main</mainClass>
                  <manifestEntries>
$entries
                  </manifestEntries>
                </transformer>
              </transformers>
            </configuration>
          </execution>
        </executions>
      </plugin>
XML
}

# mvn_package DIR JAR_NAME OUT
# Builds DIR/pom.xml (log in DIR/build.log, its tail on failure) and puts
# DIR/target/JAR_NAME at OUT. Returns 1 if the build fails.
mvn_package() {
  local dir="$1" jar="$2" out="$3"
  (cd "$dir" && "${MVN[@]}" package -DskipTests) >"$dir/build.log" 2>&1 || {
    tail -40 "$dir/build.log" >&2; log "job server build failed (log: $dir/build.log)"; return 1; }
  cp "$dir/target/$jar" "$out.tmp"
  mv "$out.tmp" "$out"
}

# unpack_sdist_deps SDIST TOP DEST DIR...
# A fresh folder DEST with the sdist's TOP/deps/DIR... (as DEST/DIR) and its
# LICENSE and NOTICE, when it has them.
unpack_sdist_deps() {
  local sdist="$1" top="$2" dest="$3" d members=()
  shift 3
  for d in "$@"; do members+=("$top/deps/$d"); done
  rm -rf "$dest"; mkdir -p "$dest"
  tar -xzf "$sdist" -C "$dest" --strip-components=2 "${members[@]}"
  tar -xzf "$sdist" -C "$dest" --strip-components=1 \
    "$top/LICENSE" "$top/NOTICE" 2>/dev/null || true
}
