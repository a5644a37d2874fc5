//! Helpers shared by unit tests.

/// Runs `src` in the host's python3 and returns what `expr` evaluates
/// to there, JSON-encoded, or the error.
pub fn python_eval(src: &str, expr: &str) -> Result<String, String> {
    let prog = format!(
        "import ast, json, sys\nsrc = sys.stdin.read()\nns = {{}}\n\
         exec(compile(src, 'f.py', 'exec'), ns)\n\
         names = sorted({{a.name for n in ast.walk(ast.parse(src)) \
         if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}})\n\
         print(json.dumps({expr}))\n"
    );
    python_eval_prog(&prog, src)
}

/// Parses `src` (without running it) in the host's python3 and returns the
/// JSON of [module names of its import statements, names assigned at
/// module level, string constants], or the syntax error.
pub fn python_parse(src: &str) -> Result<serde_json::Value, String> {
    let prog = "import ast, json, sys\nt = ast.parse(sys.stdin.read())\n\
        imports = sorted({a.name for n in ast.walk(t) \
        if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names})\n\
        assigned = sorted({x.id for n in t.body if isinstance(n, ast.Assign) \
        for x in n.targets if isinstance(x, ast.Name)})\n\
        strings = [n.value for n in ast.walk(t) \
        if isinstance(n, ast.Constant) and isinstance(n.value, str)]\n\
        print(json.dumps([imports, assigned, strings]))\n";
    let out = python_eval_prog(prog, src)?;
    serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))
}

fn python_eval_prog(prog: &str, stdin: &str) -> Result<String, String> {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args(["-c", prog])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child
        .stdin
        .take()
        .ok_or("stdin")?
        .write_all(stdin.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
