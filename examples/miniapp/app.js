// minirtc example mini program.
App({
  globalData: {
    /** @type {any} */
    systemInfo: null,
    // One uid per launch: a rejoin after a lost connection keeps it.
    uid: 0
  },
  onLaunch() {
    this.globalData.systemInfo = wx.getSystemInfoSync();
    this.globalData.uid = 100000 + Math.floor(Math.random() * 9000000);
  }
});
