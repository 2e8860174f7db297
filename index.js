'use strict';

const { Channel } = require('./lib/channel');
const { Sender } = require('./lib/sender');
const { Receiver } = require('./lib/receiver');
const { Batch } = require('./lib/batch');
const { Watch } = require('./lib/watch');
const { Mailbox } = require('./lib/mailbox');
const { ChannelError } = require('./lib/errors');

module.exports = { Channel, Sender, Receiver, Batch, Watch, Mailbox, ChannelError };
