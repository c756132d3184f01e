// Must NOT compile: the declarations reject misuse (checked by a test).
import { Client } from '../../index';
const client = new Client({ apUrl: 'https://rtc.example.com/api/v1' });
client.subscribe('77');
client.muteLocal('both');
client.setRole('host');
client.setRemoteVideoStreamType(1, 2);
new Client({ servers: [] });
