// Words and dates: Bahasa Indonesia first, English as a choice. Every value a user sees goes
// through here; no raw enum reaches the screen.
const ZONES = { "Asia/Jakarta": ["WIB", 7], "Asia/Makassar": ["WITA", 8], "Asia/Jayapura": ["WIT", 9] };

export const WORDS = {
  id: {
    app: "Aplikasi Pendamping", today: "Hari ini", queue: "Antrian kirim", account: "Akun",
    sync_now: "Kirim sekarang", last_sync: "Sinkron terakhir", never: "belum pernah",
    waiting: "menunggu dikirim", oldest: "tertua", all_sent: "semua sudah terkirim",
    rejected_n: "ditolak, perlu diperbaiki", offline: "Offline — data aman di HP ini",
    storage_persisted: "Penyimpanan: permanen (tidak dihapus browser)", storage_best_effort: "Penyimpanan: sementara — browser boleh menghapusnya bila memori penuh. Pasang aplikasi ke layar utama.",
    storage_unknown: "Penyimpanan: belum diketahui",
    sign_in_needed: "Belum masuk. Buka tautan pendaftaran dari kantor dinas Anda.", signed_in_as: "Masuk sebagai", until: "berlaku sampai",
    signed_out_expired: "Masa masuk habis. Minta tautan pendaftaran baru; data di HP ini tetap aman.",
    enrolling: "Mendaftarkan HP ini…", enrol_failed: "Tautan pendaftaran tidak berlaku atau sudah kedaluwarsa.",
    no_worklist: "Belum ada data kelompok. Sambungkan internet sekali untuk mengambilnya.",
    meeting_due: "Pertemuan", due_by: "batas", days_left: "hari lagi", due_today: "hari ini batasnya", overdue_by: "terlambat", days: "hari",
    reported: "sudah dilaporkan", recorded_waiting: "sudah dicatat, menunggu dikirim", record_meeting: "Catat pertemuan",
    activities_due: "Kegiatan rencana", open_deviations: "Penyimpangan terbuka", members: "anggota",
    plan: "Rencana & realisasi", rate_group: "Nilai kelompok", hand_to_chair: "Serahkan HP ke ketua",
    form_title: "Catat pertemuan", group: "Kelompok", date: "Tanggal", start: "Mulai", end: "Selesai",
    start_timer: "Mulai sekarang", stop_timer: "Selesai sekarang", timer_running: "Pertemuan berjalan",
    led_by: "Dipimpin oleh", module: "Modul", topic: "Topik", notes: "Catatan (hanya di HP ini dan di daftar hadir cetak)",
    attendance: "Daftar hadir", all_present: "Semua hadir", present: "Hadir", absent: "Tidak hadir", excused: "Izin",
    no_status: "belum diisi", save: "Simpan", saved: "Tersimpan di HP. Akan dikirim saat ada sinyal.", cancel: "Batal",
    choose: "— pilih —", other_module: "Lainnya",
    led_facilitator: "Pendamping", led_chair: "Ketua kelompok", led_other: "Orang lain",
    missing_attendance: "Isi kehadiran semua anggota dulu", missing_times: "Isi jam mulai dan selesai", end_before_start: "Jam selesai harus sesudah jam mulai",
    kind_meeting: "Pertemuan", kind_progress: "Realisasi kegiatan", kind_evaluation: "Penilaian",
    state_waiting: "Menunggu dikirim", state_rejected: "Ditolak server", state_sent: "Terkirim",
    fix: "Perbaiki", print: "Daftar hadir", discard: "Buang", sent_items: "Sudah terkirim",
    problem_field: "Bagian", sealed: "Penilaian oleh kelompok — tersegel, pendamping tidak dapat membacanya",
    sheet_title: "DAFTAR HADIR PERTEMUAN KELOMPOK", no: "No", name: "Nama", presence: "Kehadiran", signature: "Tanda tangan",
    facilitator: "Pendamping", chair: "Ketua kelompok", print_now: "Cetak", village: "Desa/Kelurahan (kode)", time: "Waktu",
    status: "Status", indicator: "Indikator", value: "Nilai sekarang", save_progress: "Simpan realisasi",
    st_not_started: "Belum mulai", st_in_progress: "Sedang berjalan", st_done: "Selesai", st_blocked: "Terhambat",
    stage_dialogue: "Dialog", stage_discovery: "Penemuan", stage_development: "Pengembangan",
    resp_facilitator: "Pendamping", resp_group: "Kelompok", resp_partner: "Mitra",
    score_1: "Sangat kurang", score_2: "Kurang", score_3: "Cukup", score_4: "Baik", score_5: "Sangat baik",
    comment: "Komentar", period: "Periode", send: "Simpan penilaian",
    chair_intro: "Halaman ini untuk ketua kelompok. Jawaban Anda disegel di HP ini dan dikirim ke koordinator; pendamping tidak dapat melihat atau mengubahnya.",
    chair_start: "Saya ketua kelompok, mulai", chair_done: "Terima kasih. Penilaian sudah disegel. Kembalikan HP ke pendamping.", back_to_facilitator: "Kembali ke pendamping",
    new_version: "Versi baru aplikasi siap. Data yang menunggu tetap aman.", reload: "Muat ulang",
    version: "Versi aplikasi", device: "ID perangkat", language: "Bahasa", sign_out: "Keluar dari HP ini",
    sign_out_blocked: "Masih ada data yang belum terkirim. Kirim dulu sebelum keluar.",
    unnamed_member: "Anggota tanpa nama", no_groups: "Belum ada kelompok dampingan.", none: "tidak ada",
    minutes: "menit", hours: "jam", just_now: "baru saja", ago: "lalu", unknown_group: "kelompok tidak ada di data terakhir",
    sync_error: "Gagal mengirim, dicoba lagi otomatis", led_chair_note: "Tanpa pendamping",
    crit_kehadiran: "Kehadiran pendamping", crit_komunikasi: "Komunikasi", crit_penguasaan_materi: "Penguasaan materi", crit_kepedulian: "Kepedulian",
    crit_kehadiran_anggota: "Kehadiran anggota", crit_keaktifan: "Keaktifan", crit_kekompakan: "Kekompakan", crit_tindak_lanjut: "Tindak lanjut",
  },
  en: {
    app: "Facilitator app", today: "Today", queue: "Send queue", account: "Account",
    sync_now: "Send now", last_sync: "Last synced", never: "never",
    waiting: "waiting to send", oldest: "oldest", all_sent: "everything sent",
    rejected_n: "rejected, need fixing", offline: "No signal — data is safe on this phone",
    storage_persisted: "Storage: persistent (the browser will not delete it)", storage_best_effort: "Storage: best effort — the browser may delete it when space runs out. Install the app to the home screen.",
    storage_unknown: "Storage: not known yet",
    sign_in_needed: "Not signed in. Open the enrolment link from your district office.", signed_in_as: "Signed in as", until: "valid until",
    signed_out_expired: "Sign-in expired. Ask for a new enrolment link; data on this phone is safe.",
    enrolling: "Enrolling this phone…", enrol_failed: "The enrolment link is not valid or has expired.",
    no_worklist: "No group data yet. Connect to the internet once to fetch it.",
    meeting_due: "Meeting", due_by: "due", days_left: "days left", due_today: "due today", overdue_by: "overdue by", days: "days",
    reported: "reported", recorded_waiting: "recorded, waiting to send", record_meeting: "Record meeting",
    activities_due: "Plan activities", open_deviations: "Open deviations", members: "members",
    plan: "Plan & progress", rate_group: "Rate the group", hand_to_chair: "Hand the phone to the chair",
    form_title: "Record a meeting", group: "Group", date: "Date", start: "Start", end: "End",
    start_timer: "Start now", stop_timer: "End now", timer_running: "Meeting in progress",
    led_by: "Led by", module: "Module", topic: "Topic", notes: "Notes (only on this phone and the printed sheet)",
    attendance: "Attendance", all_present: "All present", present: "Present", absent: "Absent", excused: "Excused",
    no_status: "not set", save: "Save", saved: "Saved on this phone. It will be sent when there is signal.", cancel: "Cancel",
    choose: "— choose —", other_module: "Other",
    led_facilitator: "Facilitator", led_chair: "Group chair", led_other: "Someone else",
    missing_attendance: "Set attendance for every member first", missing_times: "Fill in start and end", end_before_start: "End must be after start",
    kind_meeting: "Meeting", kind_progress: "Activity progress", kind_evaluation: "Evaluation",
    state_waiting: "Waiting to send", state_rejected: "Rejected by the server", state_sent: "Sent",
    fix: "Fix", print: "Attendance sheet", discard: "Discard", sent_items: "Already sent",
    problem_field: "Field", sealed: "Rating by the group — sealed, the facilitator cannot read it",
    sheet_title: "GROUP MEETING ATTENDANCE SHEET", no: "No", name: "Name", presence: "Attendance", signature: "Signature",
    facilitator: "Facilitator", chair: "Group chair", print_now: "Print", village: "Village (code)", time: "Time",
    status: "Status", indicator: "Indicator", value: "Current value", save_progress: "Save progress",
    st_not_started: "Not started", st_in_progress: "In progress", st_done: "Done", st_blocked: "Blocked",
    stage_dialogue: "Dialogue", stage_discovery: "Discovery", stage_development: "Development",
    resp_facilitator: "Facilitator", resp_group: "Group", resp_partner: "Partner",
    score_1: "Very poor", score_2: "Poor", score_3: "Fair", score_4: "Good", score_5: "Very good",
    comment: "Comment", period: "Period", send: "Save rating",
    chair_intro: "This page is for the group chair. Your answers are sealed on this phone and sent to the supervisor; the facilitator can neither see nor change them.",
    chair_start: "I am the group chair, start", chair_done: "Thank you. The rating is sealed. Hand the phone back to the facilitator.", back_to_facilitator: "Back to the facilitator",
    new_version: "A new app version is ready. Waiting data stays safe.", reload: "Reload",
    version: "App version", device: "Device id", language: "Language", sign_out: "Sign out of this phone",
    sign_out_blocked: "Some data has not been sent yet. Send it before signing out.",
    unnamed_member: "Unnamed member", no_groups: "No groups yet.", none: "none",
    minutes: "min", hours: "h", just_now: "just now", ago: "ago", unknown_group: "group not in the last data",
    sync_error: "Sending failed, retrying automatically", led_chair_note: "Without facilitator",
    crit_kehadiran: "Facilitator's presence", crit_komunikasi: "Communication", crit_penguasaan_materi: "Command of the material", crit_kepedulian: "Care",
    crit_kehadiran_anggota: "Members' attendance", crit_keaktifan: "Participation", crit_kekompakan: "Cohesion", crit_tindak_lanjut: "Follow-up",
  },
};

const RULES = {
  id: {
    "meeting.overdue": "Pertemuan belum dilaporkan", "meeting.facilitator_absent": "Pertemuan tanpa pendamping",
    "meeting.low_attendance": "Kehadiran rendah", "meeting.attendance_declining": "Kehadiran menurun",
    "meeting.too_short": "Pertemuan terlalu singkat", "plan.activity_overdue": "Kegiatan lewat batas",
    "plan.activity_at_risk": "Kegiatan berisiko terlambat", "evaluation.low_score": "Nilai evaluasi rendah",
    "facilitator.many_groups_deviating": "Banyak kelompok bermasalah", "reporting.lagging": "Laporan terlambat dikirim",
    "recognition.sustained_success": "Kelompok berhasil terus-menerus",
  },
  en: {
    "meeting.overdue": "Meeting not reported", "meeting.facilitator_absent": "Meeting without the facilitator",
    "meeting.low_attendance": "Low attendance", "meeting.attendance_declining": "Attendance declining",
    "meeting.too_short": "Meeting too short", "plan.activity_overdue": "Activity past its due date",
    "plan.activity_at_risk": "Activity at risk", "evaluation.low_score": "Low evaluation score",
    "facilitator.many_groups_deviating": "Many groups deviating", "reporting.lagging": "Reports sent late",
    "recognition.sustained_success": "Sustained success",
  },
};
const SEVERITY = { id: { info: "info", warning: "peringatan", critical: "kritis" }, en: { info: "info", warning: "warning", critical: "critical" } };

// Server problems in plain words, naming the part of the form.
const FIELDS = {
  id: { started_at: "Jam mulai", ended_at: "Jam selesai", recorded_at: "Waktu pencatatan", topic: "Topik", module: "Modul", group_id: "Kelompok", led_by: "Dipimpin oleh", attendance: "Daftar hadir", member_ref: "anggota", report_id: "Nomor laporan", scores: "Nilai", comment: "Komentar", indicator_value: "Nilai indikator", status: "Status", period: "Periode", device_id: "ID perangkat" },
  en: { started_at: "Start", ended_at: "End", recorded_at: "Recording time", topic: "Topic", module: "Module", group_id: "Group", led_by: "Led by", attendance: "Attendance", member_ref: "member", report_id: "Report number", scores: "Scores", comment: "Comment", indicator_value: "Indicator value", status: "Status", period: "Period", device_id: "Device id" },
};
const MESSAGES = {
  id: [
    [/national ID/i, "tidak boleh berisi NIK (16 angka). Hapus nomornya."],
    [/must be after started_at/i, "harus sesudah jam mulai."],
    [/at most 12 hours/i, "pertemuan paling lama 12 jam. Periksa tanggal dan jam."],
    [/future/i, "ada di masa depan. Periksa tanggal dan jam di HP."],
    [/before started_at/i, "tidak boleh sebelum jam mulai."],
    [/not a member/i, "sudah bukan anggota kelompok ini. Hapus dari daftar hadir."],
    [/listed twice/i, "tercatat dua kali."],
    [/no group/i, "kelompok tidak dikenal server."],
    [/different body|already used/i, "laporan ini sudah diterima server dengan isi lain."],
    [/own groups|Forbidden/i, "kelompok ini bukan dampingan Anda."],
    [/bound to another facilitator/i, "HP ini terdaftar atas pendamping lain. Keluar lalu masuk lagi dengan tautan Anda."],
    [/between 2000-01-01 and 2099-12-31/i, "tanggal tidak masuk akal. Periksa tanggal di HP."],
    [/finite number/i, "harus berupa angka."],
  ],
  en: [],
};

export function lang() {
  return localStorage.getItem("pantau-lang") === "en" ? "en" : "id";
}
export function t(key) {
  return WORDS[lang()][key] ?? WORDS.id[key] ?? key;
}
export const ruleName = (rule) => RULES[lang()][rule] || rule.replace(/[._]/g, " ");
export const severityName = (s) => SEVERITY[lang()][s] || s;

export function problemText(problem) {
  const errors = (problem && problem.errors) || [];
  const first = errors[0] || { field: "", message: (problem && (problem.detail || problem.title)) || "" };
  const path = String(first.field || "").replace(/^reports\[\d+\]\./, "");
  const parts = path.split(".");
  let fieldLabel = FIELDS[lang()][parts[parts.length - 1]] || FIELDS[lang()][parts[0]] || path;
  const row = /attendance\[(\d+)\]/.exec(path);
  if (row) fieldLabel = `${FIELDS[lang()].attendance}, ${FIELDS[lang()].member_ref} ${Number(row[1]) + 1}`;
  const rule = MESSAGES[lang()].find(([pattern]) => pattern.test(first.message) || pattern.test(problem?.detail || ""));
  return { field: path, label: fieldLabel, message: rule ? rule[1] : first.message };
}

export function zoneName(zone) {
  return (ZONES[zone] || [zone])[0];
}
export function zoneOffsetHours(zone) {
  return (ZONES[zone] || [null, 7])[1];
}

// "4 November 2026, 17.00 WIB" in the zone given (the group's or the facilitator's province).
export function formatDateTime(value, zone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat(lang() === "en" ? "en-GB" : "id-ID", {
      timeZone: zone, day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(new Date(value)).map((p) => [p.type, p.value]),
  );
  const sep = lang() === "en" ? ":" : ".";
  return `${parts.day} ${parts.month} ${parts.year}, ${parts.hour}${sep}${parts.minute} ${zoneName(zone)}`;
}
export function formatDate(value, zone) {
  return new Intl.DateTimeFormat(lang() === "en" ? "en-GB" : "id-ID", { timeZone: zone, day: "numeric", month: "long", year: "numeric" }).format(new Date(value));
}
export function formatTime(value, zone) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date(value)).map((p) => [p.type, p.value]));
  return `${parts.hour}${lang() === "en" ? ":" : "."}${parts.minute}`;
}
export function monthName(period) {
  const [year, month] = period.split("-").map(Number);
  return new Intl.DateTimeFormat(lang() === "en" ? "en-GB" : "id-ID", { month: "long", year: "numeric", timeZone: "UTC" }).format(Date.UTC(year, month - 1, 15));
}
export function formatAge(ms) {
  const minutes = Math.floor(ms / 60000);
  if (minutes < 1) return t("just_now");
  if (minutes < 60) return `${minutes} ${t("minutes")} ${t("ago")}`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} ${t("hours")} ${t("ago")}`;
  return `${Math.floor(hours / 24)} ${t("days")} ${t("ago")}`;
}

// Local wall time in a zone (fixed offsets: Indonesia has no daylight saving) ↔ instant.
export function localParts(value, zone) {
  const shifted = new Date(new Date(value).getTime() + zoneOffsetHours(zone) * 3600000).toISOString();
  return { date: shifted.slice(0, 10), time: shifted.slice(11, 16) };
}
export function instantOf(date, time, zone) {
  const offset = zoneOffsetHours(zone);
  const sign = offset >= 0 ? "+" : "-";
  return new Date(`${date}T${time}:00${sign}${String(Math.abs(offset)).padStart(2, "0")}:00`).toISOString();
}
