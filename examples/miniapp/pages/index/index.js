// Entry page: pick a channel and a role, then open the meeting page.
const app = getApp();

Page({
  data: {
    channel: '',
    role: 'broadcaster',
    joining: false,
    uid: 0
  },
  onLoad() {
    this.setData({ uid: app.globalData.uid });
  },
  onShow() {
    // back from a meeting: the join button works again
    this.setData({ joining: false });
  },
  /** @param {{detail: {value: string}}} e */
  onChannelInput(e) {
    this.setData({ channel: e.detail.value.trim() });
  },
  /** @param {{detail: {value: string}}} e */
  onRoleChange(e) {
    this.setData({ role: e.detail.value });
  },
  onJoin() {
    if (this.data.joining || !this.data.channel) return;
    this.setData({ joining: true });
    const url = '../meeting/meeting?channel=' + encodeURIComponent(this.data.channel) + '&role=' + this.data.role;
    wx.navigateTo({
      url,
      fail: () => this.setData({ joining: false })
    });
  }
});
