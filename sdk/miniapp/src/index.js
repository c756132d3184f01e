'use strict';
// minirtc-miniapp-sdk: the SDK's public surface, the same names as the Agora
// Miniapp SDK 2.6.4 module ({Client, LOG, SDK_VERSION}).

var Client = require('./client');
var LOG = require('./log').LOG;
var SDK_VERSION = require('./version');

module.exports = { Client: Client, LOG: LOG, SDK_VERSION: SDK_VERSION };
