"""GLSL of the SpatialDraw renderer: Lambert + ambient, a 3×3 PCF shadow map, procedural materials."""

VERTEX = """
#version 330
uniform mat4 u_vp; uniform mat4 u_light_vp;
in vec3 in_pos; in vec3 in_nrm; in vec3 in_col; in float in_mat; in float in_id;
out vec3 v_pos; out vec3 v_nrm; out vec3 v_col; flat out int v_mat; flat out int v_id; out vec4 v_light;
void main() {
  gl_Position = u_vp * vec4(in_pos, 1.0);
  v_pos = in_pos; v_nrm = in_nrm; v_col = in_col; v_mat = int(in_mat + 0.5); v_id = int(in_id + 0.5);
  v_light = u_light_vp * vec4(in_pos, 1.0);
}
"""
FRAGMENT = """
#version 330
uniform vec3 u_light_dir; uniform vec3 u_eye; uniform sampler2D u_shadow; uniform vec3 u_fog_col;
uniform float u_fog_dist; uniform float u_ambient; uniform float u_shadow_on;
in vec3 v_pos; in vec3 v_nrm; in vec3 v_col; flat in int v_mat; flat in int v_id; in vec4 v_light;
layout(location = 0) out vec4 f_col; layout(location = 1) out int f_id;
float hash(vec2 p) { p = fract(p * vec2(123.34, 456.21)); p += dot(p, p + 45.32); return fract(p.x * p.y); }
float noise(vec2 p) { vec2 i = floor(p), f = fract(p); f = f * f * (3.0 - 2.0 * f);
  return mix(mix(hash(i), hash(i + vec2(1, 0)), f.x), mix(hash(i + vec2(0, 1)), hash(i + vec2(1, 1)), f.x), f.y); }
float fbm(vec2 p) { return 0.5 * noise(p) + 0.25 * noise(p * 2.03) + 0.125 * noise(p * 4.01) + 0.125 * noise(p * 8.0); }
float grid(float x, float step, float w) { float d = abs(fract(x / step + 0.5) - 0.5) * step; return 1.0 - smoothstep(0.0, w, d); }
void main() {
  vec3 n = normalize(v_nrm); vec3 c = v_col; float spec = 0.0;
  vec2 uv = abs(n.y) > 0.7 ? v_pos.xz : (abs(n.x) > abs(n.z) ? v_pos.zy : v_pos.xy);
  if (v_mat == 1) { float g = fbm(vec2(uv.x * 3.0, uv.y * 40.0)); c *= 0.75 + 0.35 * g;
    c *= 0.9 + 0.1 * grid(uv.y, 0.18, 0.004); }
  else if (v_mat == 2) { c *= 0.92 + 0.08 * noise(uv * 20.0); c *= 1.0 - 0.35 * max(grid(uv.x, 0.6, 0.01), grid(uv.y, 0.6, 0.01)); }
  else if (v_mat == 3) { c *= 0.7 + 0.5 * fbm(uv * 1.3) * (0.8 + 0.4 * noise(uv * 9.0)); }
  else if (v_mat == 4) { c *= 0.8 + 0.35 * noise(uv * 30.0) + 0.1 * fbm(uv * 0.4); }
  else if (v_mat == 5) { float fl = 3.2, wi = 2.6; vec2 q = vec2(uv.x / wi, uv.y / fl);
    float win = step(0.25, fract(q.x)) * step(fract(q.x), 0.8) * step(0.3, fract(q.y)) * step(fract(q.y), 0.8);
    if (abs(n.y) < 0.5) { c = mix(c, vec3(0.18, 0.24, 0.32) + 0.15 * hash(floor(q)), win); spec = 0.3 * win; } }
  else if (v_mat == 6) { float minor = max(grid(uv.x, 0.01, 0.00035), grid(uv.y, 0.01, 0.00035));
    float major = max(grid(uv.x, 0.05, 0.0006), grid(uv.y, 0.05, 0.0006));
    c = mix(c, vec3(0.85, 0.95, 0.85), max(0.55 * minor, 0.9 * major)); }
  else if (v_mat == 7) { c *= 0.85 + 0.2 * noise(uv * 300.0); }
  else if (v_mat == 8) { c *= 0.85 + 0.25 * noise(uv * 2.0 + vec2(noise(uv * 0.5))); spec = 0.4; }
  else if (v_mat == 9) { spec = 0.6; }
  else if (v_mat == 11) { c *= 0.95 + 0.05 * noise(uv * 50.0); spec = 0.25; }
  else if (v_mat == 12) { c *= 0.85 + 0.2 * step(0.5, fract(uv.x / 6.0)); c = mix(c, vec3(0.95), max(grid(uv.x, 30.0, 0.12), grid(uv.y, 30.0, 0.12))); }
  else if (v_mat == 13) { c *= 0.85 + 0.2 * noise(uv * 3.0); }
  else { c *= 0.96 + 0.04 * noise(uv * 40.0); }
  float lit = 1.0;
  if (u_shadow_on > 0.5) {
    vec3 sp = v_light.xyz / v_light.w * 0.5 + 0.5; float bias = 0.0015; lit = 0.0;
    vec2 texel = 1.0 / vec2(textureSize(u_shadow, 0));
    for (int i = -1; i <= 1; i++) for (int j = -1; j <= 1; j++)
      lit += (sp.z - bias <= texture(u_shadow, sp.xy + vec2(i, j) * texel).r) ? 1.0 : 0.0;
    lit /= 9.0;
    if (sp.x < 0.0 || sp.x > 1.0 || sp.y < 0.0 || sp.y > 1.0) lit = 1.0;
  }
  vec3 l = normalize(-u_light_dir); vec3 vdir = normalize(u_eye - v_pos);
  if (dot(n, vdir) < 0.0) n = -n;
  float diff = max(dot(n, l), 0.0) * lit;
  float s = spec * pow(max(dot(reflect(-l, n), vdir), 0.0), 24.0) * lit;
  vec3 col = c * (u_ambient + (1.0 - u_ambient) * diff) + vec3(s);
  float fog = u_fog_dist > 0.0 ? 1.0 - exp(-pow(length(u_eye - v_pos) / u_fog_dist, 2.0)) : 0.0;
  f_col = vec4(mix(col, u_fog_col, fog), 1.0); f_id = v_id;
}
"""
SHADOW_VS = """
#version 330
uniform mat4 u_light_vp; in vec3 in_pos;
void main() { gl_Position = u_light_vp * vec4(in_pos, 1.0); }
"""
SHADOW_FS = "#version 330\nvoid main() {}\n"
