// Strings of the app in English and Korean, chosen by the browser language.
// t(key, vars) fills {name} placeholders; a key missing in Korean falls back
// to English, and a missing key shows itself so it is caught in review.

const en = {
  appName: "Happy Chat",
  skipToContent: "Skip to content",
  tagline: "Cheerful topic rooms. Pick a nickname and say hi!",
  nicknameLabel: "Your nickname",
  nicknameHint: "1–32 characters. It is remembered on this device.",
  start: "Start chatting",
  starting: "Starting…",
  changeNickname: "Change nickname",
  signedInAs: "Chatting as {nickname}",
  roomsTitle: "Happy topics",
  roomsIntro: "Search by title or pick one below. You can be in one room at a time.",
  refresh: "Refresh",
  noRooms: "No open topics yet. Why not propose one?",
  members: "{count} / {capacity} members",
  membersShort: "{count}/{capacity}",
  unread: "{count} unread",
  full: "Full",
  youAreHere: "You're here",
  open: "Open",
  join: "Join",
  switchHere: "Switch here",
  proposeTopic: "Propose a topic",
  proposeIntro: "Suggest something happy to talk about. An admin will review it.",
  titleLabel: "Title",
  descriptionLabel: "Description (optional)",
  submit: "Send proposal",
  proposed: "Thanks! “{title}” is waiting for an admin's approval.",
  created: "“{title}” is open now.",
  admin: "Admin",
  adminTitle: "Admin: topic proposals",
  adminIntro: "Enter the operator's admin token to review proposals. It is kept only for this tab.",
  adminTokenLabel: "Admin token",
  adminUnlock: "Unlock",
  adminLock: "Forget token",
  adminBadToken: "That admin token was not accepted.",
  proposalsTitle: "Waiting for approval",
  noProposals: "No proposals waiting.",
  approve: "Approve",
  approved: "“{title}” is open now.",
  createOpen: "Open a topic now",
  createOpenIntro: "As an admin, a topic you create opens at once.",
  create: "Create",
  back: "Back to topics",
  leave: "Leave",
  left: "You left “{title}”.",
  joining: "Joining…",
  switched: "You left “{from}” to join this room: one room at a time.",
  movedAway: "You joined another room, so you left “{title}”: one room at a time.",
  roomFullTitle: "This room is full",
  roomFullBody: "“{title}” already has {capacity} people. Try another topic, or come back a bit later.",
  roomNotFound: "This room does not exist, or is not open yet.",
  memberList: "Members",
  showMembers: "Members ({count})",
  hideMembers: "Hide members",
  you: "you",
  messagesLabel: "Messages",
  loadingOlder: "Loading earlier messages…",
  loadOlder: "Load earlier messages",
  beginning: "This is the beginning of “{title}”.",
  noMessagesYet: "No messages yet. Say hello!",
  composerLabel: "Message",
  composerPlaceholder: "Write a message…",
  send: "Send",
  sendHint: "Enter to send, Shift+Enter for a new line",
  pending: "Sending…",
  failed: "Not sent",
  retry: "Retry",
  queuedOffline: "Waiting for the connection",
  joinedLine: "{nickname} joined",
  leftLine: "{nickname} left",
  newMessages: "New messages below",
  notifyOn: "Notify me",
  notifyEnabled: "Notifications on",
  notifyBlocked: "Notifications are blocked in this browser.",
  notifyUnsupported: "This browser cannot show notifications.",
  notificationTitle: "{nickname} in {title}",
  connOnline: "Connected",
  connOnlineIdle: "Online",
  connConnecting: "Connecting…",
  connReconnecting: "Reconnecting…",
  connRetryIn: "Reconnecting in {seconds} s",
  connOffline: "Offline",
  offlineBanner: "You are offline. The app still opens; chats will catch up when you are back.",
  backOnline: "Back online. Catching up…",
  errorGeneric: "Something went wrong. Please try again.",
  errorNetwork: "Could not reach the server.",
  errorRateLimited: "Slow down a little: try again in {seconds} s.",
  sessionExpired: "Your session expired. Please pick your nickname again.",
  tooLong: "Too long: at most {max} characters.",
  effectPlayed: "Effect: {effect}",
  offlineCached: "Showing the last topics seen on this device.",
  notFoundTitle: "Page not found",
  home: "Go to topics",
  updated: "A new version is ready. It will be used the next time you open the app.",
  // Issue 17: finding rooms, one timeline, phone layout, admin.
  searchLabel: "Search topics",
  searchPlaceholder: "Search topics by title",
  searchHint: "Results appear as you type.",
  sectionMine: "Your rooms",
  sectionNew: "New",
  sectionBusiest: "Busiest",
  sectionResults: "Results",
  sectionResultsFor: "Results for “{q}”",
  noResults: "No topic has that in its title.",
  moreRooms: "Show more topics",
  fullLook: "Full: look in",
  today: "Today",
  yesterday: "Yesterday",
  someone: "Someone",
  leaveRoom: "Leave room",
  adminTokenHelp: "The operator sets it as CHAT_ADMIN_TOKEN. In development, `happychat dev` (make run) prints one when it starts.",
  adminIntroUnlocked: "Review the proposed topics, or open one yourself.",
  reject: "Reject",
  rejected: "“{title}” was rejected.",
  proposedBy: "Proposed by {nickname}",
  offlineRoom: "You are offline and this room was not saved on this device. It opens when you are back online.",
  offlineRoomSaved: "Offline: showing the messages saved on this device. The room opens again when you are back online.",
};

const ko = {
  appName: "해피챗",
  skipToContent: "본문으로 건너뛰기",
  tagline: "즐거운 주제별 대화방. 닉네임을 정하고 인사해 보세요!",
  nicknameLabel: "닉네임",
  nicknameHint: "1–32자. 이 기기에 기억됩니다.",
  start: "대화 시작",
  starting: "시작하는 중…",
  changeNickname: "닉네임 바꾸기",
  signedInAs: "{nickname}(으)로 대화 중",
  roomsTitle: "해피 토픽",
  roomsIntro: "제목으로 찾거나 아래에서 골라 보세요. 한 번에 한 방에만 있을 수 있어요.",
  refresh: "새로고침",
  noRooms: "아직 열린 주제가 없어요. 하나 제안해 보세요!",
  members: "멤버 {count} / {capacity}명",
  membersShort: "{count}/{capacity}",
  unread: "읽지 않음 {count}",
  full: "만원",
  youAreHere: "참여 중",
  open: "열기",
  join: "참여",
  switchHere: "이 방으로 이동",
  proposeTopic: "주제 제안하기",
  proposeIntro: "즐거운 이야깃거리를 제안해 주세요. 관리자가 검토합니다.",
  titleLabel: "제목",
  descriptionLabel: "설명 (선택)",
  submit: "제안 보내기",
  proposed: "고마워요! “{title}” 주제가 관리자 승인을 기다리고 있어요.",
  created: "“{title}” 방이 열렸어요.",
  admin: "관리자",
  adminTitle: "관리자: 주제 제안",
  adminIntro: "제안을 검토하려면 운영자 관리자 토큰을 입력하세요. 이 탭에서만 보관됩니다.",
  adminTokenLabel: "관리자 토큰",
  adminUnlock: "잠금 해제",
  adminLock: "토큰 지우기",
  adminBadToken: "관리자 토큰이 올바르지 않아요.",
  proposalsTitle: "승인 대기 중",
  noProposals: "기다리는 제안이 없어요.",
  approve: "승인",
  approved: "“{title}” 방이 열렸어요.",
  createOpen: "바로 주제 열기",
  createOpenIntro: "관리자가 만든 주제는 바로 열립니다.",
  create: "만들기",
  back: "주제 목록으로",
  leave: "나가기",
  left: "“{title}” 방에서 나왔어요.",
  joining: "참여하는 중…",
  switched: "“{from}” 방에서 나와 이 방에 참여했어요. 한 번에 한 방에만 있을 수 있어요.",
  movedAway: "다른 방에 참여해서 “{title}” 방에서 나왔어요. 한 번에 한 방에만 있을 수 있어요.",
  roomFullTitle: "방이 가득 찼어요",
  roomFullBody: "“{title}” 방에는 이미 {capacity}명이 있어요. 다른 주제를 골라 보거나 잠시 후 다시 와 주세요.",
  roomNotFound: "없는 방이거나 아직 열리지 않은 방이에요.",
  memberList: "멤버",
  showMembers: "멤버 ({count})",
  hideMembers: "멤버 숨기기",
  you: "나",
  messagesLabel: "메시지",
  loadingOlder: "이전 메시지를 불러오는 중…",
  loadOlder: "이전 메시지 불러오기",
  beginning: "“{title}” 방의 첫 메시지입니다.",
  noMessagesYet: "아직 메시지가 없어요. 인사해 보세요!",
  composerLabel: "메시지",
  composerPlaceholder: "메시지를 입력하세요…",
  send: "보내기",
  sendHint: "Enter로 보내기, Shift+Enter로 줄바꿈",
  pending: "보내는 중…",
  failed: "전송 실패",
  retry: "다시 시도",
  queuedOffline: "연결을 기다리는 중",
  joinedLine: "{nickname} 님이 들어왔어요",
  leftLine: "{nickname} 님이 나갔어요",
  newMessages: "아래에 새 메시지",
  notifyOn: "알림 받기",
  notifyEnabled: "알림 켜짐",
  notifyBlocked: "이 브라우저에서 알림이 차단되어 있어요.",
  notifyUnsupported: "이 브라우저는 알림을 지원하지 않아요.",
  notificationTitle: "{title}의 {nickname}",
  connOnline: "연결됨",
  connOnlineIdle: "온라인",
  connConnecting: "연결 중…",
  connReconnecting: "다시 연결 중…",
  connRetryIn: "{seconds}초 후 다시 연결",
  connOffline: "오프라인",
  offlineBanner: "오프라인 상태예요. 앱은 열리고, 다시 연결되면 대화를 이어받아요.",
  backOnline: "다시 온라인이에요. 대화를 따라잡는 중…",
  errorGeneric: "문제가 생겼어요. 다시 시도해 주세요.",
  errorNetwork: "서버에 연결할 수 없어요.",
  errorRateLimited: "조금 천천히요: {seconds}초 후 다시 시도하세요.",
  sessionExpired: "세션이 만료되었어요. 닉네임을 다시 정해 주세요.",
  tooLong: "너무 길어요: 최대 {max}자.",
  effectPlayed: "효과: {effect}",
  offlineCached: "이 기기에서 마지막으로 본 주제를 보여 드려요.",
  notFoundTitle: "페이지를 찾을 수 없어요",
  home: "주제 목록으로",
  updated: "새 버전이 준비되었어요. 다음에 앱을 열 때 적용됩니다.",
  // Issue 17: finding rooms, one timeline, phone layout, admin.
  searchLabel: "주제 검색",
  searchPlaceholder: "제목으로 주제 찾기",
  searchHint: "입력하는 대로 결과가 나와요.",
  sectionMine: "내 방",
  sectionNew: "새로 열린 방",
  sectionBusiest: "붐비는 방",
  sectionResults: "검색 결과",
  sectionResultsFor: "“{q}” 검색 결과",
  noResults: "제목에 그 말이 들어간 주제가 없어요.",
  moreRooms: "주제 더 보기",
  fullLook: "만원: 둘러보기",
  today: "오늘",
  yesterday: "어제",
  someone: "누군가",
  leaveRoom: "방 나가기",
  adminTokenHelp: "운영자가 CHAT_ADMIN_TOKEN으로 정해요. 개발 중에는 `happychat dev`(make run)가 시작할 때 하나를 보여 줘요.",
  adminIntroUnlocked: "제안된 주제를 검토하거나 직접 주제를 여세요.",
  reject: "거절",
  rejected: "“{title}” 제안을 거절했어요.",
  proposedBy: "{nickname} 님의 제안",
  offlineRoom: "오프라인이고 이 방은 이 기기에 저장되지 않았어요. 다시 온라인이 되면 열려요.",
  offlineRoomSaved: "오프라인: 이 기기에 저장된 메시지를 보여 드려요. 다시 온라인이 되면 방이 다시 열려요.",
};

const tables = { en, ko };

/** pickLang returns the first supported language of the browser's list. */
export function pickLang(languages) {
  for (const tag of languages || []) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (base in tables) return base;
  }
  return "en";
}

export const lang = pickLang(
  typeof navigator === "undefined" ? [] : navigator.languages?.length ? navigator.languages : [navigator.language],
);

/** t translates key into the chosen language, filling {placeholders}. */
export function t(key, vars = {}) {
  const s = tables[lang][key] ?? en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/** formatClock renders an RFC 3339 timestamp as a local time of day (3:04 PM, 오후 3:04). */
export function formatClock(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return new Intl.DateTimeFormat(lang, { hour: "numeric", minute: "2-digit" }).format(d);
}

/** formatDay names a timestamp's local day for a separator: today, yesterday, or the date. */
export function formatDay(iso, now = new Date()) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const day = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const diff = Math.round((day(now) - day(d)) / 86400000);
  if (diff === 0) return t("today");
  if (diff === 1) return t("yesterday");
  const opts = { weekday: "long", month: "long", day: "numeric" };
  if (d.getFullYear() !== now.getFullYear()) opts.year = "numeric";
  return new Intl.DateTimeFormat(lang, opts).format(d);
}

/** countChars counts Unicode code points, as the API does. */
export function countChars(s) {
  let n = 0;
  for (const _ of s) n++;
  return n;
}
