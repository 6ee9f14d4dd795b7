//! The one `/etc/passwd` lookup, read directly as runc does (no NSS, which a
//! statically linked binary cannot load reliably): the init reads the
//! container's file for `HOME`, `list` the host's for a state directory's
//! owner.

/// Field `index` (0 the name, 5 the home directory) of the first entry of
/// `/etc/passwd` whose uid (field 2) is `uid`.
pub fn field_of_uid(uid: u32, index: usize) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.get(2)?.parse::<u32>().ok()? == uid)
            .then(|| fields.get(index).map(|f| f.to_string()))
            .flatten()
    })
}
